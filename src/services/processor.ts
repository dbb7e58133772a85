import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import { getDb } from "@/adapters/firestore/client";
import { createFirestoreLlmBreaker } from "@/adapters/firestore/llm-breaker";
import { createFirestoreLlmCeiling } from "@/adapters/firestore/llm-ceiling";
import { createFirestoreProcessingStateStore } from "@/adapters/firestore/processing-state-store";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import { createFirestoreStoppedVariants } from "@/adapters/firestore/prompt-experiment-store";
import { createFirestoreUserKeyStore } from "@/adapters/firestore/user-key-store";
import { createOpenRouterCoach } from "@/adapters/llm/openrouter-coach";
import { createInMemoryStoppedVariants } from "@/adapters/memory/stopped-variants";
import { getPrompts } from "@/adapters/prompts";
import { type AppConfig, requireSetting } from "@/config";
import { describeError } from "@/core/errors";
import { logger } from "@/logger";
import type { LlmBreaker, LlmCallCeiling, QuotaGate } from "@/pipeline/llm-limit-ports";
import type { CoachModel, Prompts, ResolveRunModel } from "@/pipeline/model-ports";
import {
  type ClaimedSlot,
  type ProcessOutcome,
  type ProcessorDeps,
  recoverFromError,
  runClaimedSlot,
} from "@/pipeline/process-user";
import type { ProcessingStateStore, ProcessorStore } from "@/pipeline/processor-store-ports";
import { createPromptChooser, type StoppedVariantsReader } from "@/pipeline/prompt-choice";
import { createStateQuotaGate } from "@/pipeline/state-quota";
import { createRunModelResolver, type UserKeyLookup } from "./models";

/** Where the processor keeps its state: Firestore in production, the in-memory twins in simulations. */
export interface ProcessorStorage {
  store: ProcessorStore;
  stateStore: ProcessingStateStore;
  breaker: LlmBreaker;
  quota: QuotaGate;
  /** Null without ENCRYPTION_KEY: no user can have a usable key of their own. */
  userKeys: UserKeyLookup | null;
  /** Null when LLM_CALLS_PER_MINUTE is unset. */
  ceiling: LlmCallCeiling | null;
  /**
   * The prompt variants an operator stopped, read only while an experiment runs. Absent: none is
   * stopped (the simulations, the bench and the eval, which have no operator).
   */
  stoppedVariants?: StoppedVariantsReader;
}

/** The processor's storage on Firestore, from configuration. */
export function firestoreProcessorStorage(db: Firestore, config: AppConfig): ProcessorStorage {
  const stateStore = createFirestoreProcessingStateStore(db);
  return {
    store: createFirestoreProcessorStore(db),
    stateStore,
    breaker: createFirestoreLlmBreaker(db, config.processor.breaker),
    quota: createStateQuotaGate(stateStore),
    userKeys: config.ownKeyEncryption ? createFirestoreUserKeyStore(db, config.ownKeyEncryption) : null,
    ceiling: config.llmCeiling ? createFirestoreLlmCeiling(db, config.llmCeiling) : null,
    stoppedVariants: createFirestoreStoppedVariants(db),
  };
}

/** The OpenRouter client for one key, at the configured base URL (the sandbox in tests and locally). */
export function openRouterModels(config: AppConfig): {
  defaultModel: CoachModel;
  modelForKey: (apiKey: string) => CoachModel;
} {
  // The engine's key goes to its own client only; a user's client carries the user's key alone.
  const { defaultApiKey: _engineKey, ...llm } = config.llm;
  const client = { ...llm, recordContent: config.telemetry.recordContent };
  return {
    defaultModel: createOpenRouterCoach({
      ...client,
      apiKey: requireSetting(config, "OPENROUTER_API_KEY"),
      keySource: "default",
    }),
    modelForKey: (apiKey) => createOpenRouterCoach({ ...client, apiKey, keySource: "user" }),
  };
}

export interface ProcessorWiring {
  config: AppConfig;
  storage: ProcessorStorage;
  /** The LLM clients; OpenRouter from configuration unless a simulation stands in at the model interface. */
  models?: { defaultModel: CoachModel; modelForKey: (apiKey: string) => CoachModel };
  prompts?: Prompts;
  onStep?: ProcessorDeps["onStep"];
  warn?: ProcessorDeps["warn"];
}

const logWarning = (message: string, context: Record<string, unknown>) =>
  logger.warn(message, { component: "processor", ...context });

/** The model resolver of a wiring (the processor's or the outbox's): own keys, per-user quotas, the global ceiling. */
export function wireModelResolver({
  config,
  storage,
  models,
  warn = logWarning,
}: Pick<ProcessorWiring, "config" | "models" | "warn"> & {
  storage: Pick<ProcessorStorage, "quota" | "userKeys" | "ceiling">;
}): ResolveRunModel {
  const { defaultModel, modelForKey } = models ?? openRouterModels(config);
  return createRunModelResolver({
    defaultModel,
    modelForKey,
    quota: storage.quota,
    limits: config.quotas,
    userKeys: storage.userKeys,
    ceiling: storage.ceiling,
    warn,
  });
}

/**
 * The one place the processor's collaborators are built: the routes, the tests, the bench and
 * the simulations call it, with their storage (Firestore, or the in-memory twins) and, for the
 * simulations, a model stand-in; everything else (the quotas, the ceiling, the breaker, the
 * insights refresh, the own-key lookup) is the same, so what is measured is what runs.
 */
export function wireProcessor(wiring: ProcessorWiring): ProcessorDeps {
  const { config, storage } = wiring;
  const prompts = wiring.prompts ?? getPrompts({ variantsDirectory: config.promptVariantsDirectory });
  const warn = wiring.warn ?? logWarning;
  return {
    store: storage.store,
    stateStore: storage.stateStore,
    breaker: storage.breaker,
    resolveModel: wireModelResolver(wiring),
    prompts,
    choosePrompt: createPromptChooser({
      prompts,
      stops: storage.stoppedVariants ?? createInMemoryStoppedVariants(),
      warn,
    }),
    leaseMs: config.processor.leaseMs,
    suspension: config.processor.suspension,
    refreshInsightsBeforeGeneration: true,
    safetyResources: config.safety.resources,
    onStep:
      wiring.onStep ??
      ((step, slotId) => logger.info("processor step", { component: "processor", step, slotId })),
    warn,
  };
}

/** The production processor: Firestore and OpenRouter from configuration. */
export function processorDeps(config: AppConfig): ProcessorDeps {
  return wireProcessor({ config, storage: firestoreProcessorStorage(getDb(config), config) });
}

/**
 * Runs a claimed slot, then its delivery event at once (the outbox's cron and on-demand runs are
 * the safety net). Never throws: an unexpected failure is logged and recovered (the
 * user is rescheduled, or left due to resume), so one user's failure stays theirs.
 */
export async function runSlotSafely({
  deps,
  claim,
  now,
  deliver,
  runId = null,
}: {
  deps: ProcessorDeps;
  claim: ClaimedSlot;
  now: number;
  /** Runs the delivery event right away. */
  deliver?: (eventId: string) => Promise<unknown>;
  /** The scheduler run that dispatched this one, for its log lines; null when no run did. */
  runId?: string | null;
}): Promise<ProcessOutcome | { failed: true; reason: string }> {
  const about = {
    component: "processor",
    uid: claim.user.uid,
    slotId: claim.slot.slotId,
    runId: runId ?? undefined,
  };
  try {
    const outcome = await runClaimedSlot({ deps, claim, now });
    if (outcome.deliveryEventId && deliver) await deliver(outcome.deliveryEventId);
    logger.info("slot processed", {
      ...about,
      outcome: outcome.outcome,
      messageGenerated: outcome.messageGenerated,
      failureReason: outcome.failureReason,
      superseded: outcome.superseded,
    });
    return outcome;
  } catch (error) {
    logger.error("slot failed", { ...about, error });
    try {
      const recovered = await recoverFromError({ deps, claim, now: Date.now(), error });
      if (recovered) return recovered;
    } catch (recoveryError) {
      logger.error("slot recovery failed; the user stays due and is retried next tick", {
        ...about,
        error: recoveryError,
      });
    }
    return { failed: true, reason: describeError(error) };
  }
}
