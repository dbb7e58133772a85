/**
 * The cron tick's chain: its id and time bound, the `create()` claim of a step (a duplicate
 * delivery finds it taken), and the start of the next step when due users are left.
 */

import { describeError } from "@/core/errors";
import type { MinuteShare } from "../dispatch-ports";
import type { ChainSummary } from "../scheduler-run-record";
import type { DueCursor } from "../scheduler-store-ports";
import type { ChainStepInput, RunSchedulerInput } from "./input";
import type { StepClock } from "./pacing";
import type { RunRecorder } from "./run-recorder";

/**
 * The chain id of the cron tick delivered at `now`: its UTC hour (`cron_2026-11-30T05`). Vercel
 * calls the hourly cron once an hour, sometimes twice; both deliveries get the same id and so
 * meet at the step-0 claim.
 */
export function cronChainId(now: number): string {
  return `cron_${new Date(now).toISOString().slice(0, 13)}`;
}

/**
 * The last instant at which a step of chain `chainId` may start: minute `lastStartMinute` of its
 * hour. A step runs at most the route's maxDuration, so the chain ends before the next hour's.
 */
export function chainLastStartAt({
  chainId,
  lastStartMinute,
}: {
  chainId: string;
  lastStartMinute: number;
}): number {
  return Date.parse(`${chainId.slice("cron_".length)}:00:00.000Z`) + lastStartMinute * 60_000;
}

/** Attempts at claiming one chain step before giving up (each one a dead run's lease taken over). */
const MAX_CHAIN_STEP_ATTEMPTS = 5;

/**
 * Claims this run's chain step: `create()` of attempt 1, 2, … of `${chainId}_${step}`. Another
 * run holds the step while its attempt is completed or its lease has not run out: then this
 * delivery is a duplicate. An attempt whose lease ran out uncompleted belongs to a run that died
 * (the route's maxDuration is below the lease), so the next attempt number takes it over; no
 * transaction is needed, as exactly one caller can create a given attempt. An attempt that
 * holds this run's own id is this run's: the SDK retries a commit whose answer was lost, and
 * the retry of a `create()` that applied comes back as "already exists".
 */
export async function claimChainStep(
  input: RunSchedulerInput,
  chain: ChainStepInput,
): Promise<{ attempt: number } | { heldBy: string }> {
  const { store, runId, now } = input;
  const { chainId, step } = chain;
  let heldBy = "an earlier attempt";
  for (let attempt = 1; attempt <= MAX_CHAIN_STEP_ATTEMPTS; attempt += 1) {
    const record = {
      chainId,
      step,
      attempt,
      runId,
      claimedAt: now,
      leaseUntil: now + chain.stepLeaseMs,
      status: "running" as const,
    };
    // A create() that failed may still have applied (its answer lost after the SDK's own
    // retries): sent once more, it comes back "exists" and the holder's run id says it is this
    // run's. Otherwise a passing failure would lose the step, and with it the rest of the hour's
    // chain (the cron does not call again).
    const created = await store.createChainStep(record).catch(() => store.createChainStep(record));
    if (created === "created") return { attempt };
    const holder = await store.getChainStep({ chainId, step, attempt });
    // Gone between the conflict and the read (a TTL deletion): the attempt after it is free.
    if (!holder) continue;
    if (holder.runId === runId) return { attempt };
    heldBy = holder.runId;
    if (holder.status === "completed" || holder.leaseUntil > now) return { heldBy };
  }
  return { heldBy };
}

/** Pauses before the calls that start a chain's next step again after a passing failure. */
const CONTINUATION_RETRY_BACKOFF_MS = [1_000, 3_000] as const;

/**
 * Starts the next step when due users are left and the chain may grow (in steps, and in time:
 * no step starts after the chain's `lastStartAt`), recording why not otherwise. True when the
 * next step was started: it carries on from `handledUpTo`.
 */
export async function continueChain(
  chain: ChainStepInput,
  recorder: RunRecorder,
  handledUpTo: DueCursor | null,
  timing: {
    startsAt: number;
    minuteShare: MinuteShare | null;
    /** The step's clock, for the pause before a repeated call. */
    clock: StepClock;
    /** No repeated call starts at or after this instant on the step's clock (the dispatch deadline). */
    deadlineMs: number;
  },
): Promise<boolean> {
  const summary = recorder.run.chain as ChainSummary;
  summary.handledUpTo = handledUpTo;
  if (!recorder.results.hasMore) {
    summary.continuation = { status: "not_needed", nextStep: null };
    return false;
  }
  const nextStep = chain.step + 1;
  if (nextStep >= chain.maxSteps) {
    summary.continuation = {
      status: "chain_limit",
      nextStep: null,
      detail: `the chain has its ${chain.maxSteps} steps; the next tick takes the rest`,
    };
    return false;
  }
  if (chain.lastStartAt !== undefined && timing.startsAt > chain.lastStartAt) {
    summary.continuation = {
      status: "chain_limit",
      nextStep: null,
      detail: `no step of the chain starts after ${new Date(chain.lastStartAt).toISOString()}; the next tick takes the rest`,
    };
    return false;
  }
  const continuation = {
    chainId: chain.chainId,
    step: nextStep,
    after: handledUpTo,
    ...(timing.minuteShare ? { minuteShare: timing.minuteShare } : {}),
  };
  const start = () =>
    chain.continuer
      .continueChain(continuation)
      .catch((error: unknown) => ({ ok: false as const, retriable: true, reason: describeError(error) }));
  let outcome = await start();
  // A call that failed for a passing reason (a 5xx, a 429, a timeout, a dropped connection) is
  // made again: otherwise one lost request would leave the hour's due users to the next tick.
  // A repeat is harmless: the step is claimed, so a call that did arrive makes the next one a
  // duplicate. Only while the step's dispatch deadline is ahead, so the step's end, checked
  // against the route's maxDuration, still holds (a call takes its timeout at most).
  for (const backoffMs of CONTINUATION_RETRY_BACKOFF_MS) {
    if (outcome.ok || !outcome.retriable) break;
    const retryAt = timing.clock.elapsedMs() + backoffMs;
    if (retryAt >= timing.deadlineMs) break;
    await timing.clock.waitUntil(retryAt, false);
    outcome = await start();
  }
  summary.continuation = outcome.ok
    ? { status: "dispatched", nextStep }
    : { status: "failed", nextStep, detail: outcome.reason.slice(0, 300) };
  return outcome.ok;
}
