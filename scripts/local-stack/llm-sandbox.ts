/**
 * A deterministic, OpenRouter-compatible chat-completions server: the sandbox for
 * `npm run dev` and the stand-in for OpenRouter in tests. The real AI SDK and OpenRouter
 * provider talk to it over HTTP.
 *
 * When a request asks for structured output (`response_format.json_schema`), the answer is a
 * JSON object built from that schema, so whatever schema the engine sends is followed; known
 * coaching fields get plausible coaching text. The same request always gets the same answer.
 * A prompt that asks for a language (`<message_language tag="es">`, src/core/coaching-context.ts)
 * gets its coaching text in that language when the sandbox has canned lines in it (es, de, fr, pt),
 * in English otherwise.
 * A test stand-in for the risk assessment (docs/generation.md "Safety"): `riskLevel` is read from
 * the prompt's journal entries by the fixed cue phrases below (`sandboxRiskLevel`; the fixture
 * corpus in test/fixtures/risk/ is written with them), and a prompt at risk gets supportive lines
 * and a type that does not push (never `challenge` or `reminder`).
 * No judgement of real text is implied: a real model does that.
 *
 * Control endpoints for tests (not part of OpenRouter):
 *   POST   /__sandbox/faults    { "faults": [Fault, ...] }  queued, one consumed per completion
 *   GET    /__sandbox/requests  the completion requests received, oldest first
 *   DELETE /__sandbox/requests  forget them (and any queued faults)
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export type Fault =
  /** Answers normally: lets a test aim a later fault at the second or third completion. */
  | { kind: "pass" }
  | { kind: "status"; status: number; message?: string }
  | { kind: "delay"; delayMs: number }
  | { kind: "malformed" }
  | { kind: "content"; content: string }
  | { kind: "refusal"; message?: string };

export interface ReceivedRequest {
  receivedAt: number;
  authorization: string | undefined;
  body: Record<string, unknown>;
}

export interface LlmSandbox {
  url: string;
  /** Base URL for `createOpenRouter({ baseURL })`. */
  baseURL: string;
  port: number;
  requests: ReceivedRequest[];
  queueFaults(faults: Fault[]): void;
  stop(): Promise<void>;
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  description?: string;
};

const COACHING_LINES = [
  "You wrote about wanting steadier mornings. What is one small thing you could protect tomorrow before the day gets loud?",
  "You have kept showing up to this journal even on the heavy days. That consistency is worth noticing — what has it taught you?",
  "Here is a gentle challenge: pick the conversation you have been postponing and write down the first sentence you would say.",
  "A quick check-in on the goal you named recently: what moved forward this week, and what got in the way?",
  "When you look back at your last few entries, which moments felt most like you? What did they have in common?",
  "Psychologists call it the planning fallacy: we expect tasks to take less time than they do. Where might that be showing up for you?",
];

/** Canned coaching lines in the languages of the email catalogue (src/core/email-strings.ts). */
const COACHING_LINES_BY_LANGUAGE: Record<string, readonly string[]> = {
  en: COACHING_LINES,
  es: [
    "Escribiste que quieres mañanas más tranquilas. ¿Qué pequeña cosa podrías proteger mañana antes de que el día se vuelva ruidoso?",
    "Has seguido escribiendo en este diario incluso en los días difíciles. Esa constancia merece atención: ¿qué te ha enseñado?",
    "Un pequeño reto: elige la conversación que llevas tiempo aplazando y escribe la primera frase que dirías.",
    "Un breve repaso del objetivo que nombraste hace poco: ¿qué avanzó esta semana y qué se interpuso?",
    "Al releer tus últimas entradas, ¿qué momentos se sintieron más tuyos? ¿Qué tenían en común?",
    "Los psicólogos lo llaman la falacia de la planificación: esperamos que las tareas lleven menos tiempo del que llevan. ¿Dónde aparece en tu vida?",
  ],
  de: [
    "Du hast geschrieben, dass du dir ruhigere Morgen wünschst. Was könntest du morgen schützen, bevor der Tag laut wird?",
    "Du schreibst weiter in dein Tagebuch, auch an schweren Tagen. Diese Beständigkeit verdient Beachtung: Was hat sie dich gelehrt?",
    "Eine kleine Herausforderung: Wähle das Gespräch, das du schon lange aufschiebst, und schreib den ersten Satz auf, den du sagen würdest.",
    "Ein kurzer Blick auf das Ziel, das du neulich genannt hast: Was ist diese Woche vorangekommen, und was stand im Weg?",
    "Wenn du auf deine letzten Einträge zurückblickst: Welche Momente fühlten sich am meisten nach dir an? Was hatten sie gemeinsam?",
    "Psychologen nennen es den Planungsfehlschluss: Wir erwarten, dass Aufgaben weniger Zeit brauchen, als sie es tun. Wo zeigt sich das bei dir?",
  ],
  fr: [
    "Tu as écrit que tu voulais des matins plus calmes. Quelle petite chose pourrais-tu préserver demain avant que la journée ne s'emballe ?",
    "Tu continues d'écrire dans ce journal, même les jours difficiles. Cette constance mérite d'être remarquée : que t'a-t-elle appris ?",
    "Un petit défi : choisis la conversation que tu repousses depuis longtemps et écris la première phrase que tu dirais.",
    "Un point rapide sur l'objectif que tu as nommé récemment : qu'est-ce qui a avancé cette semaine, et qu'est-ce qui a bloqué ?",
    "En relisant tes dernières entrées, quels moments te ressemblaient le plus ? Qu'avaient-ils en commun ?",
    "Les psychologues appellent cela l'erreur de planification : on pense qu'une tâche prendra moins de temps qu'en réalité. Où cela se voit-il chez toi ?",
  ],
  pt: [
    "Você escreveu que quer manhãs mais tranquilas. Que pequena coisa poderia proteger amanhã antes que o dia fique agitado?",
    "Você continua escrevendo neste diário mesmo nos dias difíceis. Essa constância merece atenção: o que ela lhe ensinou?",
    "Um pequeno desafio: escolha a conversa que você vem adiando e escreva a primeira frase que diria.",
    "Um breve balanço do objetivo que você mencionou há pouco: o que avançou esta semana e o que atrapalhou?",
    "Relendo suas últimas entradas, quais momentos pareceram mais com você? O que eles tinham em comum?",
    "Os psicólogos chamam isso de falácia do planejamento: esperamos que as tarefas levem menos tempo do que levam. Onde isso aparece para você?",
  ],
};

/** Gentle lines for a prompt whose entries carry a risk cue: never a challenge or a reminder. */
const SUPPORTIVE_LINES_BY_LANGUAGE: Record<string, readonly string[]> = {
  en: [
    "It sounds like things have been really heavy lately, and it took courage to put that into words. You do not have to carry it alone: is there someone you trust you could talk to today?",
  ],
  es: [
    "Parece que estos días han sido muy pesados, y hace falta valor para ponerlo en palabras. No tienes que cargar con esto a solas: ¿hay alguien de confianza con quien puedas hablar hoy?",
  ],
  de: [
    "Es klingt, als wäre die letzte Zeit sehr schwer gewesen, und es braucht Mut, das aufzuschreiben. Du musst das nicht allein tragen: Gibt es einen Menschen, dem du vertraust und mit dem du heute sprechen kannst?",
  ],
  fr: [
    "On dirait que ces derniers temps ont été très lourds, et il faut du courage pour l'écrire. Tu n'as pas à porter cela seul : y a-t-il une personne de confiance à qui tu pourrais parler aujourd'hui ?",
  ],
  pt: [
    "Parece que os últimos dias têm sido muito pesados, e é preciso coragem para colocar isso em palavras. Você não precisa carregar isso sozinho: há alguém de confiança com quem possa conversar hoje?",
  ],
};

export type SandboxRiskLevel = "none" | "elevated" | "acute";

/**
 * The sandbox's stand-in for a model's risk reading: fixed cue phrases, per language, that the
 * test fixtures use. Deliberately crude (a real model reads meaning, not phrases).
 */
export const SANDBOX_RISK_CUES: Record<Exclude<SandboxRiskLevel, "none">, readonly string[]> = {
  acute: [
    "end my life",
    "do not want to be alive",
    "quitarme la vida",
    "no quiero seguir viviendo",
    "nicht mehr leben",
    "mir das leben nehmen",
    "en finir avec la vie",
    "não quero mais viver",
  ],
  elevated: [
    "hopeless",
    "a burden to everyone",
    "sin esperanza",
    "una carga para todos",
    "hoffnungslos",
    "eine last für alle",
    "sans espoir",
    "sem esperança",
  ],
};

/** The risk level the sandbox answers for these journal texts: the highest level whose cue appears. */
export function sandboxRiskLevel(journalText: string): SandboxRiskLevel {
  const text = journalText.toLowerCase();
  if (SANDBOX_RISK_CUES.acute.some((cue) => text.includes(cue))) return "acute";
  if (SANDBOX_RISK_CUES.elevated.some((cue) => text.includes(cue))) return "elevated";
  return "none";
}

/** The text of every message of a completion request. */
function promptTexts(messages: unknown): string {
  return (Array.isArray(messages) ? messages : [])
    .flatMap((message: { content?: unknown }) =>
      typeof message?.content === "string"
        ? [message.content]
        : Array.isArray(message?.content)
          ? message.content.map((part: { text?: unknown }) =>
              typeof part?.text === "string" ? part.text : "",
            )
          : [],
    )
    .join("\n");
}

/** The language a completion's messages ask for, when they name one the sandbox has lines in. */
function requestedLanguage(messages: unknown): string {
  const tag = /<message_language tag="([A-Za-z-]+)"/.exec(promptTexts(messages))?.[1]?.toLowerCase();
  return tag !== undefined && tag in COACHING_LINES_BY_LANGUAGE ? tag : "en";
}

/**
 * The risk the prompt's journal entries carry, by the cues above. Only the entries count: the
 * recent coaching messages (which may hold a helpline text) and the instructions do not.
 */
function promptRiskLevel(messages: unknown): SandboxRiskLevel {
  const entries = [...promptTexts(messages).matchAll(/<journal_entry[^>]*>([\s\S]*?)<\/journal_entry>/g)];
  return sandboxRiskLevel(entries.map((match) => match[1] ?? "").join("\n"));
}

/** What a structured answer is built for: the language asked for and the entries' risk. */
interface AnswerContext {
  language: string;
  risk: SandboxRiskLevel;
}

/**
 * Keys that behave like real OpenRouter failures: `sk-or-bad…` is unknown (401), `sk-or-broke…`
 * has no credits (402), `sk-or-busy…` is rate limited (429). `sk-or-revoked…` passes the key
 * check but is refused on completions (401), like a key revoked after it was stored.
 */
function keyFaultFor(authorization: string): { status: number; message: string } | null {
  const key = authorization.slice("Bearer ".length);
  if (key.startsWith("sk-or-bad") || key.startsWith("sk-or-revoked"))
    return { status: 401, message: "User not found." };
  if (key.startsWith("sk-or-broke")) return { status: 402, message: "Insufficient credits" };
  if (key.startsWith("sk-or-busy")) return { status: 429, message: "Rate limit exceeded" };
  return null;
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** Builds a value that satisfies `schema`, deterministically from `seed`. */
export function valueFromSchema(
  schema: JsonSchema,
  seed: Buffer,
  name = "",
  answer: AnswerContext = { language: "en", risk: "none" },
): unknown {
  const pick = (modulo: number, salt: number) => (seed[(salt + name.length) % seed.length] ?? 0) % modulo;
  if (schema.const !== undefined) return schema.const;
  if (schema.enum && schema.enum.length > 0) {
    if (name === "recommendedAction" && schema.enum.includes("SEND_MESSAGE")) return "SEND_MESSAGE";
    if (name === "riskLevel" && schema.enum.includes(answer.risk)) return answer.risk;
    // Like a model that heeds the prompt: no pushing type under risk (core/risk.ts
    // RISK_RESTRICTED_TYPES); tests that need a disobedient model queue its answer.
    const gentle = schema.enum.filter((value) => value !== "challenge" && value !== "reminder");
    const choices = name === "messageType" && answer.risk !== "none" && gentle.length ? gentle : schema.enum;
    return choices[pick(choices.length, 3)];
  }
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) {
    const nonNull = alternatives.find((candidate) => candidate.type !== "null") ?? alternatives[0] ?? {};
    return valueFromSchema(nonNull, seed, name, answer);
  }
  const types = Array.isArray(schema.type) ? schema.type : [schema.type ?? "object"];
  const type = types.find((candidate) => candidate !== "null") ?? "null";
  switch (type) {
    case "object": {
      const result: Record<string, unknown> = {};
      for (const [key, property] of Object.entries(schema.properties ?? {})) {
        result[key] = valueFromSchema(property, digest(`${seed.toString("hex")}:${key}`), key, answer);
      }
      return result;
    }
    case "array": {
      const count = Math.max(schema.minItems ?? 1, 1);
      return Array.from({ length: count }, (_, index) =>
        valueFromSchema(schema.items ?? {}, digest(`${seed.toString("hex")}:${index}`), name, answer),
      );
    }
    case "integer":
    case "number": {
      const minimum =
        schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : 0);
      const maximum =
        schema.maximum ??
        (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : minimum + 10);
      if (/rating|score/i.test(name)) return Math.min(maximum, Math.max(minimum, 7 + pick(3, 5)));
      return Math.round((minimum + maximum) / 2);
    }
    case "boolean":
      return pick(2, 7) === 0;
    case "string":
      return fitLength(textFor(name, seed, answer), schema);
    default:
      return null;
  }
}

function textFor(name: string, seed: Buffer, { language, risk }: AnswerContext): string {
  if (name === "riskReason")
    return risk === "none" ? "" : `sandbox: an ${risk} risk cue phrase appears in the entries`;
  const lines =
    (risk === "none" ? COACHING_LINES_BY_LANGUAGE : SUPPORTIVE_LINES_BY_LANGUAGE)[language] ??
    (risk === "none" ? COACHING_LINES : (SUPPORTIVE_LINES_BY_LANGUAGE.en as readonly string[]));
  const line = lines[(seed[0] ?? 0) % lines.length] ?? "";
  if (/push|notification|title|subject/i.test(name)) return line.split(/[.?!—:]/)[0]?.trim() ?? line;
  if (/message|content|improved|text|body/i.test(name)) return line;
  if (/reason|rationale|explanation|why/i.test(name))
    return "Specific to the user's own entries, warm, and easy to act on today.";
  return `${name || "value"} ${seed.toString("hex").slice(0, 8)}`;
}

function fitLength(text: string, schema: JsonSchema): string {
  let fitted = text;
  if (schema.maxLength !== undefined && fitted.length > schema.maxLength)
    fitted = fitted.slice(0, schema.maxLength).trimEnd();
  while (schema.minLength !== undefined && fitted.length < schema.minLength) fitted += " Keep going.";
  return fitted;
}

function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json" });
  response.end(text);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startLlmSandbox({
  port = 0,
  latencyMs = 0,
}: {
  port?: number;
  /** Added to every completion: simulates a real model's response time. */
  latencyMs?: number;
} = {}): Promise<LlmSandbox> {
  const requests: ReceivedRequest[] = [];
  const faults: Fault[] = [];

  const complete = async (request: IncomingMessage, response: ServerResponse, text: string) => {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return send(response, 400, { error: { message: "request body is not JSON", code: 400 } });
    }
    requests.push({ receivedAt: Date.now(), authorization: request.headers.authorization, body });
    if (!request.headers.authorization?.startsWith("Bearer ")) {
      return send(response, 401, { error: { message: "No auth credentials found", code: 401 } });
    }
    const keyFault = keyFaultFor(request.headers.authorization);
    if (keyFault)
      return send(response, keyFault.status, { error: { message: keyFault.message, code: keyFault.status } });
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));

    const fault = faults.shift();
    if (fault?.kind === "delay") await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault?.kind === "status") {
      return send(response, fault.status, {
        error: { message: fault.message ?? "sandbox fault", code: fault.status },
      });
    }
    if (fault?.kind === "malformed") return send(response, 200, '{"id": "broken", "choices": [');

    const model = typeof body.model === "string" ? body.model : "sandbox/model";
    const messages = JSON.stringify(body.messages ?? []);
    const format = body.response_format as
      | { type?: string; json_schema?: { schema?: JsonSchema } }
      | undefined;
    let content: string;
    if (fault?.kind === "content") content = fault.content;
    else if (fault?.kind === "refusal") content = fault.message ?? "I can't help with that.";
    else if (format?.json_schema?.schema) {
      content = JSON.stringify(
        valueFromSchema(format.json_schema.schema, digest(`${model}\n${messages}`), "", {
          language: requestedLanguage(body.messages),
          risk: promptRiskLevel(body.messages),
        }),
      );
    } else if (format?.type === "json_object") content = "{}";
    else {
      const lines = COACHING_LINES_BY_LANGUAGE[requestedLanguage(body.messages)] ?? COACHING_LINES;
      content = lines[(digest(messages)[0] ?? 0) % lines.length] ?? "";
    }

    const promptTokens = estimateTokens(messages);
    const completionTokens = estimateTokens(content);
    return send(response, 200, {
      id: `gen-sandbox-${digest(`${messages}${requests.length}`).toString("hex").slice(0, 16)}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model,
      provider: "Sandbox",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content, ...(fault?.kind === "refusal" ? { refusal: content } : {}) },
          finish_reason: "stop",
        },
      ],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
        // $3 / M input and $15 / M output tokens, as a Claude Sonnet on OpenRouter.
        cost: (promptTokens * 3 + completionTokens * 15) / 1_000_000,
      },
    });
  };

  const server: Server = createServer(async (request, response) => {
    const path = (request.url ?? "").split("?")[0] ?? "";
    const text = await readBody(request);
    if (request.method === "POST" && path.endsWith("/chat/completions"))
      return complete(request, response, text);
    if (request.method === "GET" && path.endsWith("/key")) {
      if (!request.headers.authorization?.startsWith("Bearer ")) {
        return send(response, 401, { error: { message: "No auth credentials found", code: 401 } });
      }
      if (request.headers.authorization.startsWith("Bearer sk-or-bad")) {
        return send(response, 401, { error: { message: "User not found.", code: 401 } });
      }
      return send(response, 200, { data: { label: "sandbox", usage: 0, limit: null, is_free_tier: false } });
    }
    if (path === "/__sandbox/faults" && request.method === "POST") {
      faults.push(...((JSON.parse(text || "{}") as { faults?: Fault[] }).faults ?? []));
      return send(response, 200, { queued: faults.length });
    }
    if (path === "/__sandbox/requests" && request.method === "GET") return send(response, 200, { requests });
    if (path === "/__sandbox/requests" && request.method === "DELETE") {
      requests.length = 0;
      faults.length = 0;
      return send(response, 200, { cleared: true });
    }
    return send(response, 404, { error: { message: `no route ${request.method} ${path}`, code: 404 } });
  });

  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("LLM sandbox has no port");
  const url = `http://127.0.0.1:${address.port}`;
  return {
    url,
    baseURL: `${url}/api/v1`,
    port: address.port,
    requests,
    queueFaults: (queued) => faults.push(...queued),
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
