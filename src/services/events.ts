import "server-only";
import { renderCoachingEmail } from "@/adapters/email/coaching-email";
import { createResendMailer } from "@/adapters/email/resend-mailer";
import { getDb } from "@/adapters/firestore/client";
import { createFirestoreEventStore } from "@/adapters/firestore/event-store";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import { getPrompts } from "@/adapters/prompts";
import { createNullPushTransport } from "@/adapters/push/null-push";
import { type AppConfig, requireSetting } from "@/config";
import { logger } from "@/logger";
import { createEventRegistry } from "@/pipeline/event-handlers";
import {
  type BatchSummary,
  type EventProcessorDeps,
  type EventRunResult,
  processEvent,
  processEventBatches,
} from "@/pipeline/process-events";
import { modelResolver } from "./models";

/** Wires the outbox's production collaborators from configuration. */
export function eventProcessorDeps(config: AppConfig): EventProcessorDeps {
  const db = getDb(config);
  return {
    store: createFirestoreEventStore(db),
    registry: createEventRegistry({
      store: createFirestoreProcessorStore(db),
      mailer: createResendMailer({
        apiKey: requireSetting(config, "RESEND_API_KEY"),
        from: config.email.from,
      }),
      push: createNullPushTransport(),
      renderEmail: renderCoachingEmail,
      links: { journalEntryUrl: config.email.journalEntryUrl, preferencesUrl: config.email.preferencesUrl },
      random: Math.random,
      resolveModel: config.env.OPENROUTER_API_KEY ? modelResolver(config, db) : undefined,
      prompts: getPrompts(),
      insightsMaxBatches: config.insights.maxBatchesPerRun,
    }),
    policy: {
      maxRetries: config.events.maxRetries,
      baseDelayMs: config.events.baseDelayMs,
      maxDelayMs: config.events.maxDelayMs,
    },
    leaseMs: config.events.leaseMs,
    random: Math.random,
  };
}

/** Runs one event now and logs the result; never throws (its lease expires and a later run retries). */
export async function runEventSafely(
  deps: EventProcessorDeps,
  eventId: string,
  { force = false }: { force?: boolean } = {},
): Promise<EventRunResult | null> {
  try {
    const result = await processEvent({ deps, eventId, now: Date.now(), force });
    logger.info("event run", { ...result });
    return result;
  } catch (error) {
    logger.error("event run failed", { eventId, error });
    return null;
  }
}

/** Drains ready events within the time budget; never throws. */
export async function runEventBatchesSafely(config: AppConfig): Promise<BatchSummary | null> {
  const startedAt = performance.now();
  try {
    const summary = await processEventBatches({
      deps: eventProcessorDeps(config),
      now: Date.now,
      batchSize: config.events.batchSize,
      concurrency: config.events.concurrency,
      timeBudgetMs: config.events.timeBudgetMs,
      elapsedMs: () => performance.now() - startedAt,
    });
    logger.info("event batches run", { ...summary });
    return summary;
  } catch (error) {
    logger.error("event batches failed", { error });
    return null;
  }
}

/** Delivery right after publishing: best effort, the cron and on-demand runs are the safety net. */
export async function deliverNow(config: AppConfig, eventId: string): Promise<void> {
  try {
    await runEventSafely(eventProcessorDeps(config), eventId);
  } catch (error) {
    logger.error("immediate delivery failed; the outbox cron will retry", { eventId, error });
  }
}

export async function eventExists(deps: EventProcessorDeps, eventId: string): Promise<boolean> {
  return (await deps.store.getEvent(eventId)) !== null;
}

export async function replayEvent(deps: EventProcessorDeps, eventId: string): Promise<boolean> {
  const requeued = await deps.store.requeue({ eventId, now: Date.now() });
  if (requeued) logger.info("event requeued", { eventId });
  return requeued;
}

/** Oldest pending event older than this means the outbox is not keeping up (or its cron stopped). */
const BACKLOG_AGE_MS = 15 * 60_000;

export async function eventHealth(config: AppConfig, now: number) {
  const deps = eventProcessorDeps(config);
  const health = await deps.store.getHealth({ now });
  const oldestPendingAgeMs =
    health.oldestPendingCreatedAt === null ? null : now - health.oldestPendingCreatedAt;
  return {
    status: oldestPendingAgeMs !== null && oldestPendingAgeMs > BACKLOG_AGE_MS ? "backlogged" : "healthy",
    uptime: Math.round(process.uptime()),
    stats: {
      totalProcessed: health.totalProcessed,
      successCount: health.successCount,
      errorCount: health.errorCount,
      deadLetterCount: health.deadLetterCount,
      lastProcessedAt: health.lastProcessedAt,
      pendingCount: health.pendingCount,
      oldestPendingAgeMs,
    },
    config: {
      batchSize: config.events.batchSize,
      concurrency: config.events.concurrency,
      maxRetries: config.events.maxRetries,
      retryBaseDelayMs: config.events.baseDelayMs,
      retryMaxDelayMs: config.events.maxDelayMs,
      leaseMs: config.events.leaseMs,
    },
    registry: Object.entries(deps.registry).map(([eventType, handler]) => ({
      eventType,
      description: handler.description,
    })),
  };
}
