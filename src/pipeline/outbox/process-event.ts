/**
 * Running one outbox event: claim it (`claim-event.ts`), run its handler, and write what came of
 * it. Events are run right after they are published (`after()`), by a cron every few minutes
 * (`process-event-batches.ts`), and on demand.
 *
 * Handlers are idempotent (the email's idempotency key is the event id, and the message's delivery
 * record is checked first), so a retry after a crash sends nothing twice. Because attempts count
 * when claimed, a handler that is always killed still reaches dead letters.
 *
 * Giving up (see `RetryPolicy`): a passing failure is retried, with a backoff capped at
 * `maxDelayMs`, until the event is `maxAgeMs` old; a permanent one goes to dead letters at once;
 * the attempt cap ends runs that never report back (a claim holds the event for the backoff too,
 * so those back off as well). Retriable dead letters can be requeued in bulk.
 */
import { describeError } from "@/core/errors";
import { decideAfterFailure, type RetryPolicy, retryWindowStart } from "@/core/event-retry";
import type { EventRecord } from "@/core/events";
import type { EventStore, HandlerResult } from "../event-ports";
import { inSpan } from "../tracing";
import { claimEvent } from "./claim-event";
import type { RegisteredHandler } from "./handler-registry";

export interface EventProcessorDeps {
  store: EventStore;
  registry: Readonly<Record<string, RegisteredHandler>>;
  policy: RetryPolicy;
  /** How long a claim holds an event; longer than any handler run. */
  leaseMs: number;
  random: () => number;
  /**
   * Events a drain sweeps for ones the ready query cannot see (written without a valid `status`
   * or `next_attempt_at`); 0 turns the sweep off. Default 100.
   */
  straySweepLimit?: number;
  /** Where best-effort writes that failed are reported (the run totals); they never fail a run. */
  logWarning?: (message: string, context: Record<string, unknown>) => void;
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

/** One event's run as it is asked for. */
interface EventRun {
  deps: EventProcessorDeps;
  eventId: string;
  now: number;
  /** Runs a pending event that is still backing off. */
  force?: boolean;
  remainingMs?: () => number;
}

/** The event's handler in its own span (`outbox.handle`), with what came of it. */
function runHandler(
  handler: RegisteredHandler,
  event: EventRecord,
  now: number,
  remainingMs: (() => number) | undefined,
): Promise<HandlerResult> {
  const fields = { "coaching.component": "outbox", "coaching.event_type": event.event_type };
  return inSpan("outbox.handle", fields, async (span) => {
    const outcome = await handle(handler, event, now, remainingMs);
    span.set(
      outcome.ok
        ? { "coaching.handled": true }
        : { "coaching.handled": false, "coaching.retriable": outcome.retriable },
    );
    return outcome;
  });
}

async function handle(
  handler: RegisteredHandler,
  event: EventRecord,
  now: number,
  remainingMs: (() => number) | undefined,
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
  try {
    return await handler.handle(parsed.data, { event, now, ...(remainingMs ? { remainingMs } : {}) });
  } catch (error) {
    // A handler that throws (a port failed under it) is a passing failure, retried like one it reports.
    return { ok: false, retriable: true, reason: describeError(error) };
  }
}

/**
 * Claims and runs one event. `force` runs a pending event that is still backing off.
 * `remainingMs` is the time left before the run must have ended (the route's maxDuration less
 * what follows); handlers with long calls (insights) start none that could outlast it.
 * The run is one span (`outbox.event`): in the processor's trace when the processor runs the
 * delivery at once, else the root of its own.
 */
export function processEvent(run: EventRun): Promise<EventRunResult> {
  const fields = { "coaching.component": "outbox", "coaching.event_id": run.eventId };
  return inSpan("outbox.event", fields, async (span) => {
    const result = await runEvent(run);
    span.set({ "coaching.event_result": result.result });
    return result;
  });
}

async function runEvent({
  deps,
  eventId,
  now,
  force = false,
  remainingMs,
}: EventRun): Promise<EventRunResult> {
  const { store } = deps;
  const claim = await claimEvent(deps, { eventId, now, force });
  if (claim.kind === "skipped") return { eventId, result: "skipped", reason: claim.reason };
  if (claim.kind === "rejected") {
    const { event, decision } = claim;
    await deadLetter(deps, {
      event,
      attempts: decision.attempts,
      reason: decision.reason,
      retriable: false,
      now,
    });
    return { eventId, result: "dead_lettered", error: decision.reason };
  }
  const { event, decision } = claim;
  if (decision.kind === "give_up") {
    // Runs that never finished: whatever killed them may pass, so a requeue can help.
    await deadLetter(deps, {
      event,
      attempts: decision.attempts,
      reason: decision.reason,
      retriable: true,
      now,
    });
    return { eventId, result: "dead_lettered", error: decision.reason };
  }
  const attempts = decision.attempts;
  const handler = deps.registry[event.event_type];
  const outcome: HandlerResult = handler
    ? await runHandler(handler, event, now, remainingMs)
    : { ok: false, retriable: false, reason: `unknown event type ${event.event_type}` };

  if (outcome.ok) {
    await store.updateEvent(eventId, {
      processed: true,
      status: "processed",
      processed_at: now,
      last_error: null,
      lease_until: now,
    });
    await recordRun(deps, { eventId, success: true, now });
    return { eventId, result: "processed" };
  }
  if (outcome.deferUntil !== undefined) {
    await store.updateEvent(eventId, {
      status: "pending",
      last_error: outcome.reason,
      next_attempt_at: outcome.deferUntil,
      lease_until: now,
      attempts: Math.max(0, attempts - 1),
    });
    return { eventId, result: "retry_scheduled", nextAttemptAt: outcome.deferUntil, error: outcome.reason };
  }
  const failure = decideAfterFailure({
    attempts,
    retriable: outcome.retriable,
    now,
    retrySince: retryWindowStart(event),
    policy: { ...deps.policy, maxRetries: handler?.maxRetries ?? deps.policy.maxRetries },
    random: deps.random,
  });
  if (failure.action === "retry") {
    await store.updateEvent(eventId, {
      status: "pending",
      last_error: outcome.reason,
      next_attempt_at: failure.nextAttemptAt,
      lease_until: now,
    });
    await recordRun(deps, { eventId, success: false, now });
    return {
      eventId,
      result: "retry_scheduled",
      nextAttemptAt: failure.nextAttemptAt,
      error: outcome.reason,
    };
  }
  const reason =
    failure.cause === "max_age"
      ? `retried for ${Math.round(deps.policy.maxAgeMs / 3_600_000)} h without success; last error: ${outcome.reason}`
      : outcome.reason;
  await deadLetter(deps, {
    event,
    attempts,
    reason: reason.slice(0, 500),
    retriable: failure.cause !== "not_retriable",
    now,
  });
  await recordRun(deps, { eventId, success: false, now });
  return { eventId, result: "dead_lettered", error: reason };
}

/**
 * The run totals, best effort and after the event's own write: the totals are figures for the
 * health route, and a failed increment (contention on a busy counter) must not fail a run or
 * leave a delivered event pending to be run, and its attempt counted, again.
 */
async function recordRun(
  deps: EventProcessorDeps,
  { eventId, success, now }: { eventId: string; success: boolean; now: number },
): Promise<void> {
  try {
    await deps.store.recordRun({ success, now });
  } catch (error) {
    deps.logWarning?.("event run totals not recorded", { eventId, error: describeError(error) });
  }
}

async function deadLetter(
  deps: EventProcessorDeps,
  {
    event,
    attempts,
    reason,
    retriable,
    now,
  }: { event: EventRecord; attempts: number; reason: string; retriable: boolean; now: number },
): Promise<void> {
  await deps.store.deadLetter({
    eventId: event.id,
    // `requeued_at` (unchanged) tells the store when a requeued event's retention starts.
    patch: {
      status: "dead_letter",
      attempts,
      last_error: reason,
      lease_until: now,
      ...(event.requeued_at ? { requeued_at: event.requeued_at } : {}),
    },
    letter: {
      event_id: event.id,
      event_type: event.event_type,
      payload: event.payload,
      error_message: reason,
      retry_count: Math.max(0, attempts - 1),
      original_created_at: event.created_at,
      created_at: now,
      retriable,
    },
  });
}
