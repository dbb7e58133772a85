/**
 * One scheduler tick: bootstrap unscheduled users, walk the due users oldest first (and, inside
 * a group of equal due times, by rank), reschedule the ones that should not get a message now,
 * hand the rest to the processor, and sweep a page of users for those no due-time query can see.
 *
 * A cron tick is a chain of steps: when a step cannot handle every due user within its time
 * budget or cap, it starts the next step through the scheduler route, which carries on after
 * the last position handled, so a backlog is drained within the hour instead of waiting for the
 * next cron call. Each step is claimed with `create()` on a deterministic id (the hour and the
 * step number), so a duplicate cron delivery, or a duplicate continuation, does nothing.
 *
 * Pace. With an LLM ceiling (`LLM_CALLS_PER_MINUTE`) the chain dispatches at most each UTC
 * minute's share of it (`dispatchesPerMinute`: the ceiling ÷ the calls a run is expected to make):
 * a step that has dispatched its minute's share waits for the next minute within its budget, and
 * hands what it used of the current minute to the next step, so a paced chain spans the hour
 * while due users remain; no step starts after the chain's `lastStartAt` (minute 55 of its
 * hour), so a chain ends before the next hour's starts. Writes on `users` are paced too:
 * the scheduler's own writes (`userWritesPerSecond`) and its dispatches (`dispatchesPerSecond`:
 * each processor run writes its user's due time once), so the collection, whose
 * `nextCoachingMessageDue` is indexed in sequence, stays under Firestore's ~500 writes/s. Work a
 * step cannot do within its budget at that pace stays due: the next step or tick takes it.
 *
 * Nothing here relies on a tick running exactly once: Vercel may deliver a cron event twice,
 * overlap a slow run with the next, or drop one. Every write is a due time computed from the
 * user's own settings (re-running it writes the same or an equally valid value), dispatch only
 * starts work that the processor makes idempotent per due slot, and a user the tick could not
 * reach stays due for the next one.
 *
 * This file is the entry point: one run, step by step. Its parts are in scheduler/: input.ts
 * (settings and collaborators), chain.ts (step claims, continuation, the time bound), pacing.ts
 * (the step's clock, paces, the dispatch deadline), unscheduled-users.ts (bootstrap and sweep),
 * unranked-due-users.ts, due-walk.ts (the due users, dispatch and the minute's share, with
 * current-slots.ts), user-writes.ts and run-recorder.ts (the run summary).
 */

import { breakerGate } from "@/core/circuit-breaker";
import { describeError } from "@/core/errors";
import type { MinuteShare } from "./dispatch-ports";
import { claimChainStep, continueChain } from "./scheduler/chain";
import { sweepDueUsers } from "./scheduler/due-walk";
import type { RunSchedulerInput } from "./scheduler/input";
import {
  dispatchDeadline,
  dispatchDeadlineMs,
  Pace,
  StepClock,
  type StepPace,
  timerWait,
} from "./scheduler/pacing";
import { RunRecorder } from "./scheduler/run-recorder";
import { rankUnrankedDueUsers } from "./scheduler/unranked-due-users";
import {
  bootstrapUnscheduledUsers,
  planSweep,
  SWEEP_DEFAULTS,
  sweepUnscheduledUsers,
} from "./scheduler/unscheduled-users";
import type { SchedulerRunRecord } from "./scheduler-run-record";
import { inSpan } from "./tracing";

export { chainLastStartAt, cronChainId } from "./scheduler/chain";
export {
  type ChainStepInput,
  dispatchesPerMinuteFor,
  type RunSchedulerInput,
  type SchedulerSettings,
  schedulerSettingsFromConfig,
} from "./scheduler/input";
export { MAX_USER_RESULTS } from "./scheduler/run-recorder";

/**
 * Runs one tick (or one step of a cron tick's chain) and returns its summary, which is also
 * stored (at the start, as `running`, so an operator sees a tick that died, and again at the
 * end). A chain step first claims its step; a duplicate delivery finds it taken, stores a
 * summary saying so and does nothing else. Per-user failures are counted, never thrown; a
 * failure of the store itself fails the run and is rethrown after the summary is saved.
 *
 * A step's time: its sweep slice, then dispatching until the budget; the next step is started
 * as soon as the walk's end is known, while calls are still in flight, and calls still in flight
 * at the dispatch deadline are aborted; then the last writes. The configuration checks that
 * this fits the route's maxDuration.
 *
 * The run is one span (`scheduler.tick`, a child of the route's), the root of the trace its
 * dispatches and their processor runs join; the summary records that trace's id.
 */
export function runScheduler(input: RunSchedulerInput): Promise<SchedulerRunRecord> {
  const { runId, trigger, chain } = input;
  const fields = {
    "coaching.component": "scheduler",
    "coaching.run_id": runId,
    "coaching.trigger": trigger,
    "coaching.chain_id": chain?.chainId,
    "coaching.chain_step": chain?.step,
  };
  return inSpan("scheduler.tick", fields, async (span) => {
    const run = await runTick(input);
    const { results } = run;
    span.set({
      "coaching.status": run.status,
      "coaching.users_due": results.usersDue,
      "coaching.jobs_created": results.jobsCreated,
      "coaching.errors": results.errors,
      "coaching.has_more": results.hasMore,
      "coaching.duplicate_of": run.chain?.duplicateOf,
    });
    return run;
  });
}

async function runTick(input: RunSchedulerInput): Promise<SchedulerRunRecord> {
  const { store, settings, now, trigger, runId, elapsedMs, chain } = input;
  const recorder = new RunRecorder(runId, trigger, now, chain);
  const summary = recorder.run.chain;
  let attempt: number | null = null;
  if (chain && summary) {
    const claim = await claimChainStep(input, chain);
    if ("heldBy" in claim) {
      summary.duplicateOf = claim.heldBy;
      recorder.run.status = "completed";
      recorder.run.durationMs = Math.round(elapsedMs());
      recorder.run.finishedAt = now + recorder.run.durationMs;
      await store.saveRun(recorder.run);
      return recorder.run;
    }
    attempt = claim.attempt;
    summary.attempt = attempt;
  }
  recorder.results.dispatchesPerMinute = settings.dispatchesPerMinute ?? null;
  await store.saveRun(recorder.run);
  let failure: unknown;
  const deadline = dispatchDeadline(input);
  const clock = new StepClock(elapsedMs, input.waitUntil ?? timerWait(elapsedMs), recorder.results);
  const pace: StepPace = {
    clock,
    writes: new Pace(settings.userWritesPerSecond, clock),
    dispatches: new Pace(settings.dispatchesPerSecond, clock),
  };
  try {
    const paced = settings.dispatchesPerMinute != null;
    const gate = breakerGate({ breaker: await store.getLlmBreaker(), now: input.now });
    recorder.results.breakerOpen = gate === "open";
    recorder.results.breakerProbeDue = gate === "probe_due";
    const random = input.random ?? Math.random;
    await bootstrapUnscheduledUsers(input, recorder, pace, random);
    if (!chain || chain.step === 0) await rankUnrankedDueUsers(input, recorder, pace);
    const sweep = await planSweep(input, recorder);
    if (sweep) {
      const sliceMs = settings.sweepSliceMs ?? SWEEP_DEFAULTS.sliceMs;
      // A single run has no later steps: its sweep takes the page at once, as before the walk.
      const sliceEnd = chain ? Math.min(elapsedMs() + sliceMs, settings.timeBudgetMs) : settings.timeBudgetMs;
      await sweepUnscheduledUsers(input, recorder, pace, random, sweep, sliceEnd);
    }
    let continuation: Promise<boolean> = Promise.resolve(false);
    let lastShare: MinuteShare | null = null;
    const handledUpTo = await sweepDueUsers(
      input,
      recorder,
      pace,
      chain?.after ?? null,
      deadline.signal,
      (position, minuteShare) => {
        if (summary) summary.handledUpTo = position;
        if (paced) lastShare = minuteShare;
        if (chain) {
          continuation = continueChain(chain, recorder, position, {
            startsAt: now + elapsedMs(),
            minuteShare: paced ? minuteShare : null,
            clock,
            deadlineMs: dispatchDeadlineMs(settings),
          });
        }
      },
    );
    if (summary) summary.handledUpTo = handledUpTo;
    const continued = await continuation;
    // The chain's last step goes on with the sweep's page in the time it has left; a page the
    // pace of writes left unfinished goes on in a next step, so a pass still takes its ticks.
    if (!continued && sweep) {
      await sweepUnscheduledUsers(input, recorder, pace, random, sweep, settings.timeBudgetMs);
      if (chain && summary?.continuation.status === "not_needed" && sweep.scanned < sweep.pageSize) {
        recorder.results.hasMore = true;
        await continueChain(chain, recorder, handledUpTo, {
          startsAt: now + elapsedMs(),
          minuteShare: lastShare,
          clock,
          deadlineMs: dispatchDeadlineMs(settings),
        });
      }
    }
    if (chain && attempt !== null) {
      await store.completeChainStep({ chainId: chain.chainId, step: chain.step, attempt });
    }
    recorder.run.status = "completed";
  } catch (error) {
    failure = error;
    recorder.run.status = "failed";
    recorder.run.failureReason = describeError(error);
  } finally {
    deadline.clear();
  }
  recorder.run.durationMs = Math.round(elapsedMs());
  recorder.run.finishedAt = now + recorder.run.durationMs;
  await store.saveRun(recorder.run);
  if (failure) throw failure;
  return recorder.run;
}
