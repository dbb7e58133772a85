/**
 * A deterministic, OpenRouter-compatible chat-completions server: the sandbox for
 * `npm run dev` and the stand-in for OpenRouter in tests. The real AI SDK and OpenRouter
 * provider talk to it over HTTP.
 *
 * When a request asks for structured output (`response_format.json_schema`), the answer is a
 * JSON object built from that schema, so whatever schema the engine sends is followed; known
 * coaching fields get plausible coaching text. The same request always gets the same answer.
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
export function valueFromSchema(schema: JsonSchema, seed: Buffer, name = ""): unknown {
  const pick = (modulo: number, salt: number) => (seed[(salt + name.length) % seed.length] ?? 0) % modulo;
  if (schema.const !== undefined) return schema.const;
  if (schema.enum && schema.enum.length > 0) {
    if (name === "recommendedAction" && schema.enum.includes("SEND_MESSAGE")) return "SEND_MESSAGE";
    return schema.enum[pick(schema.enum.length, 3)];
  }
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) {
    const nonNull = alternatives.find((candidate) => candidate.type !== "null") ?? alternatives[0] ?? {};
    return valueFromSchema(nonNull, seed, name);
  }
  const types = Array.isArray(schema.type) ? schema.type : [schema.type ?? "object"];
  const type = types.find((candidate) => candidate !== "null") ?? "null";
  switch (type) {
    case "object": {
      const result: Record<string, unknown> = {};
      for (const [key, property] of Object.entries(schema.properties ?? {})) {
        result[key] = valueFromSchema(property, digest(`${seed.toString("hex")}:${key}`), key);
      }
      return result;
    }
    case "array": {
      const count = Math.max(schema.minItems ?? 1, 1);
      return Array.from({ length: count }, (_, index) =>
        valueFromSchema(schema.items ?? {}, digest(`${seed.toString("hex")}:${index}`), name),
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
      return fitLength(textFor(name, seed), schema);
    default:
      return null;
  }
}

function textFor(name: string, seed: Buffer): string {
  const line = COACHING_LINES[(seed[0] ?? 0) % COACHING_LINES.length] ?? "";
  if (/push|notification|title|subject/i.test(name)) return line.split(/[.?!—]/)[0]?.trim() ?? line;
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
      content = JSON.stringify(valueFromSchema(format.json_schema.schema, digest(`${model}\n${messages}`)));
    } else if (format?.type === "json_object") content = "{}";
    else content = COACHING_LINES[(digest(messages)[0] ?? 0) % COACHING_LINES.length] ?? "";

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
