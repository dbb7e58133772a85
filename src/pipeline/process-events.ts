/**
 * The event processor, the serverless way: no poller. Events are run right after they are
 * published (`after()`), by a cron every few minutes, and on demand.
 *
 * Two workers never run one event at once: a worker claims it with one atomic write, the
 * `create()` of lease `${eventId}_${n}` (exactly one caller can create it) and the event update
 * that pushes `next_attempt_at` out to the lease's end (so the ready query stops returning it) and
 * counts the attempt. A worker that dies leaves the lease to expire and the event to be retried;
 * handlers are idempotent (the email's idempotency key is the event id, and the message's delivery
 * record is checked first), so a retry after a crash sends nothing twice. Because attempts count
 * when claimed, a handler that is always killed still reaches dead letters.
 *
 * Older versions claimed in two writes; a lease they created without the event update (the
 * process died between them) is taken over once that lease has expired.
 */
import { describeError } from "@/core/errors";
import {
  decideAfterFailure,
  decideEventClaim,
  type EventClaimDecision,
  type EventRecord,
  type RetryPolicy,
} from "@/core/events";
import { mapWithConcurrency } from "./bounded-concurrency";
import type { RegisteredHandler } from "./event-handlers";
import type { EventStore, HandlerResult, HandlerStep, ReadyCursor } from "./event-ports";

export interface EventProcessorDeps {
  store: EventStore;
  registry: Readonly<Record<string, RegisteredHandler>>;
  policy: RetryPolicy;
  /** How long a claim holds an event; longer than any handler run. */
  leaseMs: number;
  random: () => number;
  /** Crash points for tests; logging. A throw stops the run as a crash would. */
  onStep?: (step: HandlerStep | "handled", eventId: string) => void | Promise<void>;
  /**
   * Events a drain sweeps for ones the ready query cannot see (written without a valid `status`
   * or `next_attempt_at`); 0 turns the sweep off. Default 100.
   */
  straySweepLimit?: number;
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

/** Claim attempts over leases that turn out to be taken, before answering "busy". */
const MAX_CLAIM_ROUNDS = 3;
const DEFAULT_STRAY_SWEEP_LIMIT = 100;

type ClaimOutcome =
  | { kind: "claimed"; event: EventRecord; decision: Exclude<EventClaimDecision, { kind: "skip" }> }
  | { kind: "skipped"; reason: "processed" | "dead_letter" | "not_ready" | "busy" | "not_found" };

/**
 * Reads, decides and claims. When lease n already exists: a live one means another worker holds
 * the event (it is kept out of the ready query until that lease ends); an expired one whose claim
 * never reached the event (an older version's half-written claim) is passed over for n + 1.
 */
async function claimEvent(
  deps: EventProcessorDeps,
  { eventId, now, force }: { eventId: string; now: number; force: boolean },
): Promise<ClaimOutcome> {
  const { store } = deps;
  let leaseFloor = 0;
  for (let round = 0; round < MAX_CLAIM_ROUNDS; round += 1) {
    const stored = await store.getEvent(eventId);
    if (!stored) return { kind: "skipped", reason: "not_found" };
    const event = { ...stored, lease_number: Math.max(stored.lease_number, leaseFloor) };
    const maxRetries = deps.registry[event.event_type]?.maxRetries ?? deps.policy.maxRetries;
    const decision = decideEventClaim({ event, now, force, maxRetries, leaseMs: deps.leaseMs });
    if (decision.kind === "skip") return { kind: "skipped", reason: decision.reason };
    const leaseUntil = now + deps.leaseMs;
    const claimToken = `${now.toString(36)}-${Math.floor(deps.random() * 2 ** 52).toString(36)}`;
    const claimed = await store
      .claimEvent({
        eventId,
        leaseNumber: decision.leaseNumber,
        now,
        leaseUntil,
        attempts: decision.attempts,
        nextAttemptAt: Math.max(event.next_attempt_at, leaseUntil),
        claimToken,
      })
      .catch(async (error: unknown) => {
        // A write that failed may still have applied (a timeout): the lease's token says whose it is.
        const lease = await store.getLease({ eventId, leaseNumber: decision.leaseNumber }).catch(() => null);
        if (lease?.claimToken === claimToken) return true;
        throw error;
      });
    if (claimed) return { kind: "claimed", event, decision };
    const lease = await store.getLease({ eventId, leaseNumber: decision.leaseNumber });
    const heldUntil = lease ? (lease.leaseUntil ?? lease.claimedAt + deps.leaseMs) : 0;
    if (heldUntil > now) {
      // An older version's claim (no token) may never have reached the event, leaving it at the
      // head of the ready query: move it to the lease's end so drains pass it by (later only).
      // A claim with a token was one atomic write, so the event already says so.
      if (lease?.claimToken === null && event.next_attempt_at < heldUntil) {
        await store.updateEvent(eventId, { next_attempt_at: heldUntil });
      }
      return { kind: "skipped", reason: "busy" };
    }
    leaseFloor = decision.leaseNumber;
  }
  return { kind: "skipped", reason: "busy" };
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
  const claim = await claimEvent(deps, { eventId, now, force });
  if (claim.kind === "skipped") return { eventId, result: "skipped", reason: claim.reason };
  const { event, decision } = claim;
  if (decision.kind === "give_up") {
    await deadLetter(deps, { event, attempts: decision.attempts, reason: decision.reason, now });
    return { eventId, result: "dead_lettered", error: decision.reason };
  }
  const attempts = decision.attempts;
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
      last_error: null,
      lease_until: now,
    });
    return { eventId, result: "processed" };
  }
  const failure = decideAfterFailure({
    attempts,
    retriable: outcome.retriable,
    now,
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
    return {
      eventId,
      result: "retry_scheduled",
      nextAttemptAt: failure.nextAttemptAt,
      error: outcome.reason,
    };
  }
  await deadLetter(deps, { event, attempts, reason: outcome.reason, now });
  return { eventId, result: "dead_lettered", error: outcome.reason };
}

async function deadLetter(
  deps: EventProcessorDeps,
  { event, attempts, reason, now }: { event: EventRecord; attempts: number; reason: string; now: number },
): Promise<void> {
  await deps.store.deadLetter({
    eventId: event.id,
    patch: { status: "dead_letter", attempts, last_error: reason, lease_until: now },
    letter: {
      event_id: event.id,
      event_type: event.event_type,
      payload: event.payload,
      error_message: reason,
      retry_count: Math.max(0, attempts - 1),
      original_created_at: event.created_at,
      created_at: now,
    },
  });
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
  /** Events the stray sweep queued; null when the sweep failed (the next drain sweeps again). */
  strayEventsQueued: number | null;
}

/**
 * Runs ready events, oldest ready first, `batchSize` at a time, until none are left or the time
 * budget is spent. Events another worker holds are out of the ready query (their
 * `next_attempt_at` is the lease's end), so concurrent batch runs share the queue instead of
 * colliding; and a drain pages on past whatever it could not take (keyset on ready time and id),
 * so no number of stuck events at the head of the queue stops it from reaching the ones behind.
 * First, a short sweep queues events the ready query cannot see (see `EventStore.queueStrayEvents`).
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
    strayEventsQueued: 0,
  };
  const sweepLimit = deps.straySweepLimit ?? DEFAULT_STRAY_SWEEP_LIMIT;
  if (sweepLimit > 0) {
    // Best effort: a failed sweep must not hold up delivery; the next drain sweeps again.
    summary.strayEventsQueued = await deps.store
      .queueStrayEvents({ now: now(), limit: sweepLimit })
      .then((sweep) => sweep.queued)
      .catch(() => null);
  }
  let after: ReadyCursor | undefined;
  while (elapsedMs() < timeBudgetMs) {
    const events = await deps.store.getReadyEvents({ now: now(), limit: batchSize, after });
    if (events.length === 0) return summary;
    summary.batches += 1;
    const last = events.at(-1);
    if (last) after = { nextAttemptAt: last.next_attempt_at, eventId: last.id };
    // One event's store failure must not stop the others; its lease expires and it is retried.
    const results = await mapWithConcurrency(events, concurrency, (event) =>
      processEvent({ deps, eventId: event.id, now: now() }).catch(
        (error): EventRunResult => ({ eventId: event.id, result: "errored", error: describeError(error) }),
      ),
    );
    for (const run of results) {
      summary.examined += 1;
      if (run.result === "processed") summary.processed += 1;
      else if (run.result === "retry_scheduled") summary.retryScheduled += 1;
      else if (run.result === "dead_lettered") summary.deadLettered += 1;
      else if (run.result === "errored") summary.errored += 1;
      else summary.skipped += 1;
    }
  }
  summary.hasMore = true;
  return summary;
}
