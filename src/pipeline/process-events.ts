/**
 * The event processor, the serverless way: no poller. Events are run right after they are
 * published (`after()`), by a cron every few minutes, and on demand.
 *
 * Two workers never run one event at once: a worker claims it by `create()` of lease
 * `${eventId}_${n}` (exactly one caller can create it) and pushes `next_attempt_at` out to the
 * lease's end, so the ready query stops returning it. A worker that dies leaves the lease to
 * expire and the event to be retried; handlers are idempotent (the email's idempotency key is the
 * event id, and the message's delivery record is checked first), so a retry after a crash sends
 * nothing twice.
 */
import { describeError } from "@/core/errors";
import { decideAfterFailure, decideEventClaim, type EventRecord, type RetryPolicy } from "@/core/events";
import { mapWithConcurrency } from "./bounded-concurrency";
import type { RegisteredHandler } from "./event-handlers";
import type { EventStore, HandlerResult, HandlerStep } from "./event-ports";

export interface EventProcessorDeps {
  store: EventStore;
  registry: Readonly<Record<string, RegisteredHandler>>;
  policy: RetryPolicy;
  /** How long a claim holds an event; longer than any handler run. */
  leaseMs: number;
  random: () => number;
  /** Crash points for tests; logging. A throw stops the run as a crash would. */
  onStep?: (step: HandlerStep | "handled", eventId: string) => void | Promise<void>;
}

export type EventRunResult =
  | { eventId: string; result: "processed" }
  | { eventId: string; result: "retry_scheduled"; nextAttemptAt: number; error: string }
  | { eventId: string; result: "dead_lettered"; error: string }
  | {
      eventId: string;
      result: "skipped";
      reason: "processed" | "dead_letter" | "not_ready" | "busy" | "not_found";
    }
  | { eventId: string; result: "errored"; error: string };

async function runHandler(
  deps: EventProcessorDeps,
  handler: RegisteredHandler,
  event: EventRecord,
  now: number,
): Promise<HandlerResult> {
  const parsed = handler.payloadSchema.safeParse(event.payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      retriable: false,
      reason: `invalid payload for ${event.event_type}: ${issue?.path.join(".") || "payload"}: ${issue?.message ?? "does not match"}`,
    };
  }
  // A failing step hook is fatal to the run (it stands for the process dying); a failing handler is a retriable failure.
  let hookFailure: { error: unknown } | undefined;
  const onStep = async (step: HandlerStep) => {
    try {
      await deps.onStep?.(step, event.id);
    } catch (error) {
      hookFailure = { error };
      throw error;
    }
  };
  try {
    return await handler.handle(parsed.data, { event, now, onStep });
  } catch (error) {
    if (hookFailure) throw hookFailure.error;
    return { ok: false, retriable: true, reason: describeError(error) };
  }
}

/** Claims and runs one event. `force` runs a pending event that is still backing off. */
export async function processEvent({
  deps,
  eventId,
  now,
  force = false,
}: {
  deps: EventProcessorDeps;
  eventId: string;
  now: number;
  force?: boolean;
}): Promise<EventRunResult> {
  const { store } = deps;
  const event = await store.getEvent(eventId);
  if (!event) return { eventId, result: "skipped", reason: "not_found" };
  const claim = decideEventClaim({ event, now, force });
  if (claim.kind === "skip") return { eventId, result: "skipped", reason: claim.reason };
  if (!(await store.createLease({ eventId, leaseNumber: claim.leaseNumber, now }))) {
    return { eventId, result: "skipped", reason: "busy" };
  }
  const leaseUntil = now + deps.leaseMs;
  await store.updateEvent(eventId, {
    lease_number: claim.leaseNumber,
    lease_until: leaseUntil,
    next_attempt_at: Math.max(event.next_attempt_at, leaseUntil),
  });

  const attempts = event.attempts + 1;
  const handler = deps.registry[event.event_type];
  const outcome: HandlerResult = handler
    ? await runHandler(deps, handler, event, now)
    : { ok: false, retriable: false, reason: `unknown event type ${event.event_type}` };
  await deps.onStep?.("handled", eventId);
  await store.recordRun({ success: outcome.ok, now });

  if (outcome.ok) {
    await store.updateEvent(eventId, {
      processed: true,
      status: "processed",
      processed_at: now,
      attempts,
      last_error: null,
      lease_until: now,
    });
    return { eventId, result: "processed" };
  }
  const decision = decideAfterFailure({
    attempts,
    retriable: outcome.retriable,
    now,
    policy: { ...deps.policy, maxRetries: handler?.maxRetries ?? deps.policy.maxRetries },
    random: deps.random,
  });
  if (decision.action === "retry") {
    await store.updateEvent(eventId, {
      attempts,
      last_error: outcome.reason,
      next_attempt_at: decision.nextAttemptAt,
      lease_until: now,
    });
    return {
      eventId,
      result: "retry_scheduled",
      nextAttemptAt: decision.nextAttemptAt,
      error: outcome.reason,
    };
  }
  await store.deadLetter({
    eventId,
    patch: { status: "dead_letter", attempts, last_error: outcome.reason, lease_until: now },
    letter: {
      event_id: eventId,
      event_type: event.event_type,
      payload: event.payload,
      error_message: outcome.reason,
      retry_count: attempts - 1,
      original_created_at: event.created_at,
      created_at: now,
    },
  });
  return { eventId, result: "dead_lettered", error: outcome.reason };
}

export interface BatchSummary {
  examined: number;
  processed: number;
  retryScheduled: number;
  deadLettered: number;
  skipped: number;
  errored: number;
  batches: number;
  hasMore: boolean;
}

/**
 * Runs ready events, oldest ready first, `batchSize` at a time, until none are ready or the
 * time budget is spent. Events another worker holds are out of the ready query, so concurrent
 * batch runs share the queue instead of colliding.
 */
export async function processEventBatches({
  deps,
  now,
  batchSize,
  concurrency,
  timeBudgetMs,
  elapsedMs,
}: {
  deps: EventProcessorDeps;
  now: () => number;
  batchSize: number;
  concurrency: number;
  timeBudgetMs: number;
  elapsedMs: () => number;
}): Promise<BatchSummary> {
  const summary: BatchSummary = {
    examined: 0,
    processed: 0,
    retryScheduled: 0,
    deadLettered: 0,
    skipped: 0,
    errored: 0,
    batches: 0,
    hasMore: false,
  };
  while (elapsedMs() < timeBudgetMs) {
    const events = await deps.store.getReadyEvents({ now: now(), limit: batchSize });
    if (events.length === 0) return summary;
    summary.batches += 1;
    // One event's store failure must not stop the others; its lease expires and it is retried.
    const results = await mapWithConcurrency(events, concurrency, (event) =>
      processEvent({ deps, eventId: event.id, now: now() }).catch(
        (error): EventRunResult => ({ eventId: event.id, result: "errored", error: describeError(error) }),
      ),
    );
    let progressed = false;
    for (const run of results) {
      summary.examined += 1;
      if (run.result === "processed") summary.processed += 1;
      else if (run.result === "retry_scheduled") summary.retryScheduled += 1;
      else if (run.result === "dead_lettered") summary.deadLettered += 1;
      else if (run.result === "errored") summary.errored += 1;
      else summary.skipped += 1;
      if (run.result !== "skipped" && run.result !== "errored") progressed = true;
    }
    // Everything returned was taken by others meanwhile: leave them to it.
    if (!progressed) return summary;
  }
  summary.hasMore = true;
  return summary;
}
