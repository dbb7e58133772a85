import "server-only";
import { getDb } from "@/adapters/firestore/client";
import { createFirestoreLlmBreaker } from "@/adapters/firestore/llm-breaker";
import { createFirestoreProcessingStateStore } from "@/adapters/firestore/processing-state-store";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import { createOpenRouterCoach } from "@/adapters/llm/openrouter-coach";
import { getPrompts } from "@/adapters/prompts";
import { type AppConfig, requireSetting } from "@/config";
import { describeError } from "@/core/errors";
import { logger } from "@/logger";
import {
  type ClaimedSlot,
  type ProcessOutcome,
  type ProcessorDeps,
  recoverFromError,
  runClaimedSlot,
} from "@/pipeline/process-user";
import { modelResolver } from "./models";

/** Wires the production collaborators of the processor from configuration. */
export function processorDeps(config: AppConfig): ProcessorDeps {
  const db = getDb(config);
  return {
    store: createFirestoreProcessorStore(db),
    model: createOpenRouterCoach({
      apiKey: requireSetting(config, "OPENROUTER_API_KEY"),
      ...config.llm,
    }),
    prompts: getPrompts(),
    leaseMs: config.processor.leaseMs,
    stateStore: createFirestoreProcessingStateStore(db),
    suspension: config.processor.suspension,
    breaker: createFirestoreLlmBreaker(db, config.processor.breaker),
    resolveModel: modelResolver(config, db),
    refreshInsightsBeforeGeneration: true,
    onStep: (step, slotId) => logger.info("processor step", { step, slotId }),
    warn: (message, context) => logger.warn(message, context),
  };
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
}: {
  deps: ProcessorDeps;
  claim: ClaimedSlot;
  now: number;
  /** Runs the delivery event right away. */
  deliver?: (eventId: string) => Promise<unknown>;
}): Promise<ProcessOutcome | { failed: true; reason: string }> {
  try {
    const outcome = await runClaimedSlot({ deps, claim, now });
    if (outcome.deliveryEventId && deliver) await deliver(outcome.deliveryEventId);
    logger.info("slot processed", {
      slotId: outcome.slotId,
      outcome: outcome.outcome,
      messageGenerated: outcome.messageGenerated,
      failureReason: outcome.failureReason,
      superseded: outcome.superseded,
    });
    return outcome;
  } catch (error) {
    logger.error("slot failed", { slotId: claim.slot.slotId, error });
    try {
      const recovered = await recoverFromError({ deps, claim, now: Date.now(), error });
      if (recovered) return recovered;
    } catch (recoveryError) {
      logger.error("slot recovery failed; the user stays due and is retried next tick", {
        slotId: claim.slot.slotId,
        error: recoveryError,
      });
    }
    return { failed: true, reason: describeError(error) };
  }
}
