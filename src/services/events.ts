import "server-only";
import { createHttpDrainContinuer } from "@/adapters/dispatch/http-drain-continuer";
import { getDb } from "@/adapters/firestore/client";
import { createFirestoreEventStore } from "@/adapters/firestore/event-store";
import { type AppConfig, EVENT_CONTINUATION_TIMEOUT_MS, requireSetting } from "@/config";
import { logger } from "@/logger";
import { EVENT_HANDLER_DESCRIPTIONS } from "@/pipeline/outbox/handler-registry";
import { type EventProcessorDeps, type EventRunResult, processEvent } from "@/pipeline/outbox/process-event";
import { type BatchSummary, processEventBatches } from "@/pipeline/outbox/process-event-batches";
import {
  countRetriableDeadLetters,
  requeueRetriableDeadLetters,
} from "@/pipeline/outbox/requeue-dead-letters";
import { evaluateAlertsSafely } from "./alerts";
import { rollUpMetricsSafely } from "./metrics";
import { firestoreOutboxStorage, wireOutbox } from "./outbox";

/** The production outbox: Firestore, Resend, Web Push and OpenRouter from configuration (services/outbox.ts). */
export function eventProcessorDeps(config: AppConfig): EventProcessorDeps {
  return wireOutbox({ config, storage: firestoreOutboxStorage(getDb(config), config) });
}

/** Runs one event now and logs the result; never throws (its lease expires and a later run retries). */
export async function runEventSafely(
  deps: EventProcessorDeps,
  eventId: string,
  { force = false }: { force?: boolean } = {},
): Promise<EventRunResult | null> {
  try {
    const result = await processEvent({ deps, eventId, now: Date.now(), force });
    logger.info("event run", { component: "outbox", ...result });
    return result;
  } catch (error) {
    logger.error("event run failed", { component: "outbox", eventId, error });
    return null;
  }
}

/**
 * Drains ready events within the time budget; never throws. When the budget ran out with work
 * left (a backlog after an outage), the drain calls the process-batch route again, up to
 * EVENT_MAX_CONTINUATIONS times per cron call (`continuation` counts them), instead of leaving
 * the rest to the next cron 5 minutes later; a continuation that fails to start is logged and
 * the cron picks up. Concurrent drains share the queue safely (claims).
 */
export async function runEventBatchesSafely(
  config: AppConfig,
  { continuation = 0 }: { continuation?: number } = {},
): Promise<BatchSummary | null> {
  const startedAt = performance.now();
  // The alerts, beside the drain (a cron call's, not its continuations'): bounded, never throws,
  // and a fired alert's post is an event this drain or the next one delivers.
  const alerts = continuation === 0 ? evaluateAlertsSafely(config, { source: "outbox" }) : null;
  // The metrics rollup too, with its own budget: the newest hour does not wait for the next
  // hourly tick, nor starve while every tick uses its whole time (services/metrics.ts).
  const rollup = continuation === 0 ? rollUpMetricsSafely(config) : null;
  let summary: BatchSummary;
  try {
    summary = await processEventBatches({
      deps: eventProcessorDeps(config),
      now: Date.now,
      batchSize: config.events.batchSize,
      concurrency: config.events.concurrency,
      timeBudgetMs: config.events.timeBudgetMs,
      deadlineMs: config.events.handlerDeadlineMs,
      elapsedMs: () => performance.now() - startedAt,
    });
    logger.info("event batches run", { component: "outbox", ...summary, continuation });
  } catch (error) {
    logger.error("event batches failed", { component: "outbox", error, continuation });
    await Promise.all([alerts, rollup]);
    return null;
  }
  await Promise.all([alerts, rollup]);
  if (summary.hasMore && continuation < config.events.maxContinuations) {
    try {
      const continued = await createHttpDrainContinuer({
        appUrl: config.appUrl,
        cronSecret: requireSetting(config, "CRON_SECRET"),
        timeoutMs: EVENT_CONTINUATION_TIMEOUT_MS,
      })(continuation + 1);
      if (!continued.ok) {
        logger.warn("event drain continuation not started", {
          component: "outbox",
          reason: continued.reason,
        });
      }
    } catch (error) {
      logger.warn("event drain continuation not started", { component: "outbox", error });
    }
  }
  return summary;
}

/** Delivery right after publishing: best effort, the cron and on-demand runs are the safety net. */
export async function deliverNow(config: AppConfig, eventId: string): Promise<void> {
  try {
    await runEventSafely(eventProcessorDeps(config), eventId);
  } catch (error) {
    logger.error("immediate delivery failed; the outbox cron will retry", {
      component: "outbox",
      eventId,
      error,
    });
  }
}

export async function eventExists(deps: EventProcessorDeps, eventId: string): Promise<boolean> {
  return (await deps.store.getEvent(eventId)) !== null;
}

/** Bulk requeues, at most this many a call (each a read and a batch). */
export const MAX_BULK_REQUEUE = 500;

export function retriableDeadLetterCount(config: AppConfig): Promise<number> {
  return countRetriableDeadLetters({ deps: eventProcessorDeps(config) });
}

/**
 * Requeues up to `confirmCount` retriable dead letters (the number the operator saw and
 * confirmed; at most MAX_BULK_REQUEUE a call) and says how many remain.
 */
export async function requeueRetriableDeadLettersNow(
  config: AppConfig,
  { confirmCount, now }: { confirmCount: number; now: number },
): Promise<{ requeued: number; remaining: number }> {
  const deps = eventProcessorDeps(config);
  const { requeued } = await requeueRetriableDeadLetters({
    deps,
    now,
    limit: Math.min(confirmCount, MAX_BULK_REQUEUE),
  });
  logger.info("retriable dead letters requeued", { component: "outbox", requeued: requeued.length });
  return { requeued: requeued.length, remaining: await countRetriableDeadLetters({ deps }) };
}

export async function replayEvent(deps: EventProcessorDeps, eventId: string): Promise<boolean> {
  const requeued = await deps.store.requeue({ eventId, now: Date.now() });
  if (requeued) logger.info("event requeued", { component: "outbox", eventId });
  return requeued;
}

/** A ready event waiting longer than this means the outbox is not keeping up (or its cron stopped). */
const BACKLOG_AGE_MS = 15 * 60_000;

/**
 * The outbox's health. Reads the event store only: no mailer, push transport or LLM is wired, so
 * a deployment without RESEND_API_KEY (or any delivery setting) still gets its health (a
 * `requireSetting(config, "RESEND_API_KEY")` in the delivery wiring once made this route a 500).
 */
export async function eventHealth(config: AppConfig, now: number) {
  const store = createFirestoreEventStore(getDb(config));
  const [health, retriableDeadLetters] = await Promise.all([
    store.getHealth({ now }),
    store.countRetriableDeadLetters(),
  ]);
  // From the ready time, as the outbox_backlog alert measures it: a retry's backoff or a replay is no backlog.
  const oldestReadyWaitMs = health.oldestReadyAt === null ? null : now - health.oldestReadyAt;
  return {
    status: oldestReadyWaitMs !== null && oldestReadyWaitMs > BACKLOG_AGE_MS ? "backlogged" : "healthy",
    uptime: Math.round(process.uptime()),
    stats: {
      totalProcessed: health.totalProcessed,
      successCount: health.successCount,
      errorCount: health.errorCount,
      deadLetterCount: health.deadLetterCount,
      retriableDeadLetterCount: retriableDeadLetters,
      lastProcessedAt: health.lastProcessedAt,
      pendingCount: health.pendingCount,
      oldestReadyWaitMs,
      // The field's earlier name, for monitors keyed on it (same value): removed in a later release.
      oldestPendingAgeMs: oldestReadyWaitMs,
    },
    config: {
      batchSize: config.events.batchSize,
      concurrency: config.events.concurrency,
      maxRetries: config.events.maxRetries,
      retryBaseDelayMs: config.events.baseDelayMs,
      retryMaxDelayMs: config.events.maxDelayMs,
      retryMaxAgeMs: config.events.maxAgeMs,
      leaseMs: config.events.leaseMs,
      timeBudgetMs: config.events.timeBudgetMs,
      maxContinuations: config.events.maxContinuations,
      emailTimeoutMs: config.events.emailTimeoutMs,
      // Off, not broken, without RESEND_API_KEY: deliveries record the email as skipped.
      email: config.email ? "resend" : "not_configured",
      // Off, not broken, without the VAPID keys: deliveries record the push as not delivered.
      push: config.push ? "web_push" : "not_configured",
    },
    registry: Object.entries(EVENT_HANDLER_DESCRIPTIONS).map(([eventType, description]) => ({
      eventType,
      description,
    })),
  };
}
