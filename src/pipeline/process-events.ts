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
 *
 * Giving up (see `RetryPolicy`): a passing failure is retried, with a backoff capped at
 * `maxDelayMs`, until the event is `maxAgeMs` old; a permanent one goes to dead letters at once;
 * the attempt cap ends runs that never report back (a claim holds the event for the backoff too,
 * so those back off as well). Retriable dead letters can be requeued in bulk.
 */
import { describeError } from "@/core/errors";
import {
  claimHoldUntil,
  decideAfterFailure,
  decideEventClaim,
  type EventClaimDecision,
  type EventRecord,
  type RetryPolicy,
  retryWindowStart,
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

async function runHandler(
  deps: EventProcessorDeps,
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
    return await handler.handle(parsed.data, { event, now, onStep, ...(remainingMs ? { remainingMs } : {}) });
  } catch (error) {
    if (hookFailure) throw hookFailure.error;
    return { ok: false, retriable: true, reason: describeError(error) };
  }
}

/** Claim attempts over leases that turn out to be taken, before answering "busy". */
const MAX_CLAIM_ROUNDS = 3;
const DEFAULT_STRAY_SWEEP_LIMIT = 100;

type ClaimOutcome =
  | {
      kind: "claimed";
      event: EventRecord;
      decision: Exclude<EventClaimDecision, { kind: "skip" | "reject" }>;
    }
  /** Not claimable at all (its id is too long for a lease): dead-lettered without one. */
  | { kind: "rejected"; event: EventRecord; decision: Extract<EventClaimDecision, { kind: "reject" }> }
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
    if (decision.kind === "reject") return { kind: "rejected", event, decision };
    const leaseUntil = now + deps.leaseMs;
    const claimToken = `${now.toString(36)}-${Math.floor(deps.random() * 2 ** 52).toString(36)}`;
    const claimed = await store
      .claimEvent({
        eventId,
        leaseNumber: decision.leaseNumber,
        now,
        leaseUntil,
        attempts: decision.attempts,
        nextAttemptAt: claimHoldUntil({
          now,
          attempts: decision.attempts,
          leaseMs: deps.leaseMs,
          nextAttemptAt: event.next_attempt_at,
          policy: deps.policy,
          random: deps.random,
        }),
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
    // "Exists" with our own token: the client retried a commit that had applied (the SDK retries
    // ABORTED/UNAVAILABLE), and its second try met our first. The claim is ours.
    if (lease?.claimToken === claimToken) return { kind: "claimed", event, decision };
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

/**
 * Claims and runs one event. `force` runs a pending event that is still backing off.
 * `remainingMs` is the time left before the run must have ended (the route's maxDuration less
 * what follows); handlers with long calls (insights) start none that could outlast it.
 */
export async function processEvent({
  deps,
  eventId,
  now,
  force = false,
  remainingMs,
}: {
  deps: EventProcessorDeps;
  eventId: string;
  now: number;
  force?: boolean;
  remainingMs?: () => number;
}): Promise<EventRunResult> {
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
    ? await runHandler(deps, handler, event, now, remainingMs)
    : { ok: false, retriable: false, reason: `unknown event type ${event.event_type}` };
  await deps.onStep?.("handled", eventId);

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

/** How many dead letters a bulk requeue would put back (see `requeueRetriableDeadLetters`). */
export function countRetriableDeadLetters({ deps }: { deps: EventProcessorDeps }): Promise<number> {
  return deps.store.countRetriableDeadLetters();
}

/**
 * Puts up to `limit` retriable dead letters back in the queue (after an outage longer than the
 * retry window, say), each with a fresh retry window; permanent failures stay. Handlers are
 * idempotent, so a message already delivered sends nothing again.
 */
export async function requeueRetriableDeadLetters({
  deps,
  now,
  limit,
}: {
  deps: EventProcessorDeps;
  now: number;
  limit: number;
}): Promise<{ requeued: string[] }> {
  const eventIds = await deps.store.listRetriableDeadLetters({ limit });
  const requeued = await mapWithConcurrency(eventIds, 10, async (eventId) =>
    (await deps.store.requeue({ eventId, now })) ? eventId : null,
  );
  return { requeued: requeued.filter((eventId): eventId is string => eventId !== null) };
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
 * `hasMore` says the budget ended the run with events possibly left: the caller continues (the
 * process-batch route calls itself again, a bounded number of times) instead of leaving them to
 * the next cron. `deadlineMs` (elapsed time) is when every handler must have ended: handlers
 * with long calls (insights) start none that could outlast it.
 */
export async function processEventBatches({
  deps,
  now,
  batchSize,
  concurrency,
  timeBudgetMs,
  deadlineMs,
  elapsedMs,
}: {
  deps: EventProcessorDeps;
  now: () => number;
  batchSize: number;
  concurrency: number;
  timeBudgetMs: number;
  deadlineMs?: number;
  elapsedMs: () => number;
}): Promise<BatchSummary> {
  const remainingMs = deadlineMs === undefined ? undefined : () => deadlineMs - elapsedMs();
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
  // The first batch runs whatever the budget (a run always makes progress); later ones within it.
  while (summary.batches === 0 || elapsedMs() < timeBudgetMs) {
    const events = await deps.store.getReadyEvents({ now: now(), limit: batchSize, after });
    if (events.length === 0) return summary;
    summary.batches += 1;
    const last = events.at(-1);
    if (last) after = { nextAttemptAt: last.next_attempt_at, eventId: last.id };
    // One event's store failure must not stop the others; its lease expires and it is retried.
    // No event starts once the budget is spent (the first of a run excepted, so every run makes
    // progress): one started late would run past the route's maxDuration and be killed. The
    // ones not started stay ready, for the continuation or the next drain.
    const results = await mapWithConcurrency(events, concurrency, (event, index) => {
      if (elapsedMs() >= timeBudgetMs && (summary.batches > 1 || index > 0)) return Promise.resolve(null);
      return processEvent({ deps, eventId: event.id, now: now(), remainingMs }).catch(
        (error): EventRunResult => ({ eventId: event.id, result: "errored", error: describeError(error) }),
      );
    });
    for (const run of results) {
      if (run === null) continue;
      summary.examined += 1;
      if (run.result === "processed") summary.processed += 1;
      else if (run.result === "retry_scheduled") summary.retryScheduled += 1;
      else if (run.result === "dead_lettered") summary.deadLettered += 1;
      else if (run.result === "errored") summary.errored += 1;
      else summary.skipped += 1;
    }
    if (results.includes(null)) break;
  }
  summary.hasMore = true;
  return summary;
}
