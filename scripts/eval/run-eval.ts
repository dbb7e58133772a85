/**
 * Runs the evaluation: every persona through the real processor (services/processor.ts
 * `wireProcessor`: context, insights refresh, generation, novelty, risk rule, outcome simulation,
 * quality gate, storage) over the in-memory twins of the stores, with the real OpenRouter client
 * (AI SDK over HTTP) pointed at the LLM sandbox started in-process, or at OpenRouter itself.
 * The model is wrapped at its interface only to measure each call's prompt size, tokens and cost;
 * what it answers is passed on untouched.
 */
import { execFileSync } from "node:child_process";
import { createInMemoryLlmBreaker } from "@/adapters/memory/llm-breaker";
import {
  createInMemoryProcessingStateStore,
  type InMemoryProcessingStates,
} from "@/adapters/memory/processing-state-store";
import {
  createInMemoryProcessorData,
  createInMemoryProcessorStore,
  type InMemoryProcessorData,
} from "@/adapters/memory/processor-store";
import { createInMemoryDatabase, type InMemoryDatabase } from "@/adapters/memory/scheduler-store";
import { type AppConfig, loadConfig } from "@/config";
import { safetyResourceFor } from "@/core/risk";
import { mapWithConcurrency } from "@/pipeline/bounded-concurrency";
import type { CoachModel, LlmCallRecord } from "@/pipeline/model-ports";
import type { ProcessorDeps } from "@/pipeline/process-user";
import type { StoredMessage } from "@/pipeline/processor-store-ports";
import { createStateQuotaGate } from "@/pipeline/state-quota";
import { openRouterModels, wireProcessor } from "@/services/processor";
import { startLlmSandbox } from "../local-stack/llm-sandbox";
import { processUser } from "../support/process-user";
import type { EvalPersona } from "./personas";
import {
  type EvalReport,
  judgePersona,
  type ObservedCall,
  type PersonaObservation,
  REPORT_VERSION,
  summarise,
} from "./report";

const HOUR = 3_600_000;
/**
 * The eval's fixed "now": the prompts carry the local date and time, so a fixed instant keeps
 * sandbox runs identical from one run to the next (a Tuesday afternoon in Europe).
 */
export const EVAL_NOW = Date.parse("2026-03-10T14:00:00Z");

export interface EvalOptions {
  personas: readonly EvalPersona[];
  /** `real`: OpenRouter (or OPENROUTER_BASE_URL) with OPENROUTER_API_KEY from `env`; else the sandbox. */
  real: boolean;
  /** The environment `--real` reads its key, models and SAFETY_RESOURCES from. */
  env?: NodeJS.ProcessEnv;
  /** Personas run at once (each run's calls are sequential, as in production). */
  concurrency?: number;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

/** A model that records each call's prompt size and the usage the provider reported. */
function measuredModel(model: CoachModel, calls: ObservedCall[]): CoachModel {
  const record = (input: { system: string; prompt: string }, call: LlmCallRecord) => {
    calls.push({
      purpose: call.purpose,
      ok: call.ok,
      promptChars: input.system.length + input.prompt.length,
      inputTokens: call.inputTokens,
      outputTokens: call.outputTokens,
      cost: call.cost,
    });
  };
  return {
    generationModel: model.generationModel,
    scoringModel: model.scoringModel,
    async generateMessage(input) {
      const result = await model.generateMessage(input);
      record(input, result.call);
      return result;
    },
    async simulateOutcome(input) {
      const result = await model.simulateOutcome(input);
      record(input, result.call);
      return result;
    },
    async analyseJournal(input) {
      const result = await model.analyseJournal(input);
      record(input, result.call);
      return result;
    },
  };
}

/** The configuration of an eval run: only the LLM endpoint and SAFETY_RESOURCES come from outside. */
function evalConfig({
  real,
  env,
  sandboxBaseUrl,
}: {
  real: boolean;
  env: NodeJS.ProcessEnv;
  sandboxBaseUrl: string | null;
}): AppConfig {
  const shared = {
    NODE_ENV: "test" as const,
    FIREBASE_PROJECT_ID: "demo-eval",
    ...(env.SAFETY_RESOURCES ? { SAFETY_RESOURCES: env.SAFETY_RESOURCES } : {}),
  };
  if (real) {
    if (!env.OPENROUTER_API_KEY) throw new Error("--real needs OPENROUTER_API_KEY");
    const passed = [
      "OPENROUTER_API_KEY",
      "OPENROUTER_BASE_URL",
      "COACHING_MODEL",
      "SCORING_MODEL",
      "LLM_TIMEOUT_MS",
    ];
    return loadConfig({
      ...shared,
      ...Object.fromEntries(passed.flatMap((name) => (env[name] ? [[name, env[name]]] : []))),
    });
  }
  return loadConfig({
    ...shared,
    OPENROUTER_API_KEY: "sk-or-eval-sandbox",
    OPENROUTER_BASE_URL: sandboxBaseUrl ?? "",
    COACHING_MODEL: "sandbox/coach",
    SCORING_MODEL: "sandbox/scorer",
    LLM_MAX_RETRIES: "0",
  });
}

/** A coaching message the persona was sent before, as the store keeps a sent one. */
function previousMessageRecord(
  persona: EvalPersona,
  index: number,
  message: EvalPersona["previousMessages"][number],
): StoredMessage {
  const createdAt = EVAL_NOW - (persona.previousMessages.length - index) * 48 * HOUR;
  const id = `${persona.id}_previous_${index}`;
  return {
    id,
    uid: persona.id,
    slotId: id,
    createdAt,
    updatedAt: createdAt,
    status: "sent",
    messageContent: message.text,
    messageType: message.messageType,
    pushNotificationText: null,
    originalMessageContent: null,
    effectivenessRating: 8,
    recommendedAction: "SEND_MESSAGE",
    outcomeReasoning: null,
    wasSent: true,
    sentAt: createdAt,
    journalEntryId: null,
    contextUsed: null,
    generationAttempt: 1,
    failureReason: null,
    userTimezone: persona.timezone,
    userTimePreference: "afternoon",
    scheduledFor: createdAt,
    promptVersion: "previous",
    model: { generation: "previous", scoring: "previous" },
    llmCalls: [],
    tokenUsage: { inputTokens: 0, outputTokens: 0, totalTokens: 0, cost: null },
    delivery: {
      email: { status: "sent", providerId: null, error: null, attemptedAt: createdAt },
      push: { status: "not_delivered", text: null },
    },
  };
}

/** Puts the persona in the stores: the user document, the journal, the messages sent before. */
function seedPersona(database: InMemoryDatabase, data: InMemoryProcessorData, persona: EvalPersona): void {
  database.users.set(persona.id, {
    email: `${persona.id}@example.com`,
    timezone: persona.timezone,
    ...(persona.locale ? { locale: persona.locale } : {}),
    coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "afternoon" },
    nextCoachingMessageDue: EVAL_NOW - HOUR,
  });
  data.journal.set(
    persona.id,
    persona.entries.map((content, index) => ({
      id: `${persona.id}_entry_${index}`,
      content,
      // Oldest first, one a day, the newest this morning.
      createdAt: EVAL_NOW - (persona.entries.length - index) * 24 * HOUR + 20 * HOUR,
    })),
  );
  data.sentByUser.set(
    persona.id,
    persona.previousMessages.map((message, index) => previousMessageRecord(persona, index, message)),
  );
}

function gitCommit(): string | null {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return null;
  }
}

async function runPersona({
  deps,
  data,
  persona,
  config,
  calls,
}: {
  deps: ProcessorDeps;
  data: InMemoryProcessorData;
  persona: EvalPersona;
  config: AppConfig;
  calls: ObservedCall[];
}): Promise<{ observation: PersonaObservation; promptVersions: string[] }> {
  const startedAt = performance.now();
  // A run that throws is a finding of the eval (the report says so), not the end of it.
  const outcome = await processUser({ deps, uid: persona.id, now: EVAL_NOW, bypassChecks: true }).then(
    (run) => (run.kind === "processed" ? run.result.outcome : `not run: ${run.kind}`),
    (error: unknown) => `error: ${error instanceof Error ? error.message : String(error)}`,
  );
  const attempts = [...data.messages.values()]
    .filter((message) => message.uid === persona.id)
    .toSorted((first, second) => first.generationAttempt - second.generationAttempt);
  const language = attempts.at(-1)?.language ?? persona.language;
  return {
    promptVersions: attempts.map((attempt) => attempt.promptVersion),
    observation: {
      personaId: persona.id,
      language: persona.language,
      promptVersion: attempts.at(-1)?.promptVersion ?? null,
      expectedRisk: persona.expectedRisk,
      previousMessages: persona.previousMessages,
      distinctivePhrase: persona.distinctivePhrase ?? null,
      outcome,
      attempts: attempts.map((attempt) => ({
        status: attempt.status,
        messageType: attempt.messageType,
        messageContent: attempt.messageContent,
        effectivenessRating: attempt.effectivenessRating,
        failureReason: attempt.failureReason,
        language: attempt.language ?? null,
        riskLevel: attempt.riskLevel ?? null,
      })),
      calls,
      expectedHelpline: safetyResourceFor({
        configured: config.safety.resources,
        language,
        locale: persona.locale ?? null,
      }),
      durationMs: Math.round(performance.now() - startedAt),
    },
  };
}

/** Runs every persona, `concurrency` at a time, and returns the report (nothing written). */
export async function runEval({
  personas,
  real,
  env = process.env,
  concurrency = 4,
  log = () => undefined,
}: EvalOptions): Promise<EvalReport> {
  const startedAt = performance.now();
  const sandbox = real ? null : await startLlmSandbox();
  try {
    const config = evalConfig({ real, env, sandboxBaseUrl: sandbox?.baseURL ?? null });
    log(
      real
        ? `eval: ${personas.length} personas against ${new URL(config.llm.baseURL).host} (${config.llm.generationModel} / ${config.llm.scoringModel})`
        : `eval: ${personas.length} personas against the LLM sandbox at ${sandbox?.baseURL}`,
    );
    const { defaultModel } = openRouterModels(config);
    const database = createInMemoryDatabase();
    const data = createInMemoryProcessorData();
    const states: InMemoryProcessingStates = new Map();
    const stateStore = createInMemoryProcessingStateStore(database, states);
    const storage = {
      store: createInMemoryProcessorStore(database, data, states),
      stateStore,
      breaker: createInMemoryLlmBreaker(database, new Map(), config.processor.breaker),
      quota: createStateQuotaGate(stateStore),
      userKeys: null,
      ceiling: null,
    };
    let done = 0;
    const runs = await mapWithConcurrency(personas, concurrency, async (persona) => {
      seedPersona(database, data, persona);
      // The production wiring over the in-memory twins, one per persona so that each measures
      // its own calls; only the model is wrapped, at its interface.
      const calls: ObservedCall[] = [];
      const model = measuredModel(defaultModel, calls);
      const deps = wireProcessor({
        config,
        storage,
        models: { defaultModel: model, modelForKey: () => model },
        onStep: () => undefined,
        warn: (message, context) => log(`  ${persona.id}: warning: ${message} ${JSON.stringify(context)}`),
      });
      const run = await runPersona({ deps, data, persona, config, calls });
      done += 1;
      log(
        `  [${done}/${personas.length}] ${persona.id}: ${run.observation.outcome} (${run.observation.durationMs} ms)`,
      );
      return run;
    });
    const observations = runs.map((run) => run.observation);
    const promptVersions = new Set(runs.flatMap((run) => run.promptVersions));
    const results = observations.map(judgePersona);
    return {
      version: REPORT_VERSION,
      createdAt: new Date().toISOString(),
      model: {
        mode: real ? "real" : "sandbox",
        baseHost: real ? new URL(config.llm.baseURL).host : "sandbox (in-process)",
        generation: config.llm.generationModel,
        scoring: config.llm.scoringModel,
      },
      promptVersion: [...promptVersions].join(", ") || "unknown",
      commit: gitCommit(),
      durationMs: Math.round(performance.now() - startedAt),
      summary: summarise(results),
      personas: results,
    };
  } finally {
    await sandbox?.stop();
  }
}
