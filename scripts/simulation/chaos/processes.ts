/**
 * The three kinds of process the deployment runs, as the routes run them: the scheduler tick
 * (with a dispatcher that loses, duplicates or times out calls), the processor invocation
 * (`acceptUserRun`, then in `after()` `runClaimedSlot` with `recoverFromError` and `deliverNow`,
 * as the processor route's `runSlotSafely` does), and the outbox cron run. A process that a
 * fault killed stops: no recovery code runs for it.
 */
import { describeError } from "@/core/errors";
import { closeStaleSlots } from "@/pipeline/close-stale-slots";
import type { DispatchOutcome } from "@/pipeline/dispatch-ports";
import { processEvent } from "@/pipeline/outbox/process-event";
import { processEventBatches } from "@/pipeline/outbox/process-event-batches";
import {
  type AcceptResult,
  acceptUserRun,
  type ClaimedSlot,
  type ProcessorDeps,
  recoverFromError,
  runClaimedSlot,
} from "@/pipeline/process-user";
import { runScheduler } from "@/pipeline/run-scheduler";
import type { SimulatedEngine } from "./engine";
import { newProcess, type SimulatedProcess } from "./faults";
import type { InvariantChecker } from "./invariants";
import { count, faultsOn, HOUR, type World } from "./world";

function describeAccept(accepted: AcceptResult): string {
  switch (accepted.kind) {
    case "claimed":
      return `claimed ${accepted.claim.slot.slotId} lease ${accepted.claim.slot.leaseNumber}`;
    case "skipped":
      return `skipped (${accepted.reason}${accepted.nextCoachingMessageDue ? `, next ${new Date(accepted.nextCoachingMessageDue).toISOString().slice(5, 16)}` : ""})`;
    case "busy":
      return `busy ${accepted.slotId}`;
    case "already_completed":
      return `already completed ${accepted.slotId}`;
    case "not_found":
      return "user not found";
  }
}

export interface SimulatedProcesses {
  tick(kind: string): Promise<void>;
  outboxRun(): Promise<void>;
  /** Waits for the `after()` work of processor invocations started so far. */
  drainAfterWork(): Promise<void>;
}

export function createProcesses(
  world: World,
  checker: InvariantChecker,
  engine: SimulatedEngine,
): SimulatedProcesses {
  const { settings } = world;
  const { rates } = settings;
  const { stats, processorDeps, eventDeps } = engine;
  const trace = (line: string) => world.trace.add(line);

  /**
   * The processor route's `after()` half: services/processor.ts `runSlotSafely` with
   * services/events.ts `deliverNow`, minus logging. A copy, because those modules import
   * `server-only` and the Firestore wiring; keep it in step with them: run the slot, deliver its
   * event at once (never throwing), and on a throw recover with the time of the recovery.
   */
  const runSlot = async (process: SimulatedProcess, deps: ProcessorDeps, claim: ClaimedSlot, now: number) => {
    try {
      const outcome = await runClaimedSlot({ deps, claim, now });
      trace(
        `${process.label} slot ${outcome.slotId} ${outcome.outcome} next ${new Date(outcome.nextCoachingMessageDue).toISOString().slice(5, 16)}`,
      );
      if (outcome.outcome === "sent") stats.messagesSent += 1;
      if (outcome.deliveryEventId) {
        const eventId = outcome.deliveryEventId;
        await processEvent({ deps: eventDeps(process), eventId, now: world.clock.now }).catch((error) =>
          trace(`${process.label} immediate delivery failed: ${describeError(error)}`),
        );
      }
    } catch (error) {
      if (!process.alive) return trace(`${process.label} DIED at ${process.diedAt}`);
      trace(`${process.label} slot ${claim.slot.slotId} failed: ${describeError(error)}`);
      try {
        await recoverFromError({ deps, claim, now: world.clock.now, error });
      } catch (recoveryError) {
        trace(`${process.label} recovery failed: ${describeError(recoveryError)}`);
      }
    }
  };

  const afterWork: Promise<unknown>[] = [];
  let processes = 0;
  const invokeProcessor = async (uid: string): Promise<DispatchOutcome> => {
    processes += 1;
    stats.processorRuns += 1;
    const process = newProcess(`proc#${processes}(${uid})`);
    const deps = processorDeps(process);
    const now = world.clock.now;
    try {
      const accepted = await acceptUserRun({ deps, uid, now });
      trace(`${process.label} accept: ${describeAccept(accepted)}`);
      if (accepted.kind === "claimed") afterWork.push(runSlot(process, deps, accepted.claim, now));
      if (accepted.kind === "busy") checker.onSlotBusy(accepted.slotId);
      return { ok: true, status: accepted.kind === "claimed" ? 202 : 200 };
    } catch (error) {
      trace(`${process.label} accept ${process.alive ? "failed" : "DIED"}: ${describeError(error)}`);
      return { ok: false, retriable: true, reason: "processor answered 500" };
    }
  };

  let ticks = 0;
  const tick = async (kind: string) => {
    ticks += 1;
    stats.ticks += 1;
    const process = newProcess(`tick#${ticks}(${kind})`);
    try {
      const run = await runScheduler({
        store: engine.schedulerStore(process),
        dispatcher: {
          async dispatch({ userId }) {
            if (!process.alive) throw new Error("the scheduler process is dead");
            if (faultsOn(world) && world.random.chance(rates.dispatch.lost)) {
              count(world, "dispatch.lost");
              return { ok: false, retriable: true, reason: "fetch failed" };
            }
            const duplicate = faultsOn(world) && world.random.chance(rates.dispatch.duplicate);
            if (duplicate) count(world, "dispatch.duplicate");
            const [outcome] = await Promise.all(
              duplicate ? [invokeProcessor(userId), invokeProcessor(userId)] : [invokeProcessor(userId)],
            );
            if (faultsOn(world) && world.random.chance(rates.dispatch.responseLost)) {
              count(world, "dispatch.response_lost");
              // The processor ran; the scheduler saw only a timeout.
              return { ok: false, retriable: true, reason: "processor call timed out", unconfirmed: true };
            }
            return outcome ?? { ok: false, retriable: true, reason: "no answer" };
          },
        },
        settings: {
          pageSize: 500,
          maxUsersPerTick: 1_000_000,
          bootstrapLimit: 1_000_000,
          // The tick's virtual elapsed time stays 0 (below), so the budget never runs out; the
          // dispatch deadline is a real-clock timer, set far beyond a seed's run time.
          timeBudgetMs: 240_000,
          dispatchDeadlineMs: 24 * HOUR,
          disabledRecheckMs: 24 * HOUR,
          dispatchConcurrency: 20,
        },
        now: world.clock.now,
        trigger: "cron",
        runId: `tick-${ticks}`,
        elapsedMs: () => 0,
        random: world.random,
      });
      const { results } = run;
      // What the tick wrote for users it did not dispatch (their processor runs trace themselves).
      for (const [uid, { result }] of Object.entries(run.userResults)) {
        if (result !== "dispatched") trace(`${process.label}: (${uid}) ${result}`);
      }
      trace(
        `${process.label}: due ${results.usersDue}, bootstrapped ${results.usersBootstrapped}, dispatched ${results.jobsCreated}, breaker ${results.breakerOpen ? "open" : "not open"}, errors ${results.errors}`,
      );
      // As the cron tick does after its work (services/scheduler.ts): slots nobody will take over are closed.
      const sweep = await closeStaleSlots({
        store: processorDeps(process).store,
        now: world.clock.now,
        limit: 100,
      });
      if (sweep.closed + sweep.delivered + sweep.heldMessage + sweep.lost > 0)
        trace(
          `${process.label}: stale slots closed ${sweep.closed}, delivered ${sweep.delivered}, held ${sweep.heldMessage}, lost ${sweep.lost}`,
        );
    } catch (error) {
      trace(`${process.label} ${process.alive ? "failed" : "DIED"}: ${describeError(error)}`);
    }
  };

  let outboxRuns = 0;
  const outboxRun = async () => {
    outboxRuns += 1;
    stats.outboxRuns += 1;
    const process = newProcess(`outbox#${outboxRuns}`);
    let simulatedSeconds = 0;
    try {
      const summary = await processEventBatches({
        deps: eventDeps(process),
        now: () => world.clock.now,
        batchSize: settings.eventBatchSize,
        concurrency: 5,
        timeBudgetMs: 250_000,
        // Each batch is taken to cost a second of the route's time budget, so a run always ends.
        elapsedMs: () => {
          simulatedSeconds += 1;
          return simulatedSeconds * 1000;
        },
      });
      if (summary.examined > 0)
        trace(
          `${process.label}: processed ${summary.processed}, retries ${summary.retryScheduled}, dead ${summary.deadLettered}, skipped ${summary.skipped}, errored ${summary.errored}`,
        );
    } catch (error) {
      trace(`${process.label} ${process.alive ? "failed" : "DIED"}: ${describeError(error)}`);
    }
  };

  return {
    tick,
    outboxRun,
    async drainAfterWork() {
      while (afterWork.length > 0) await Promise.all(afterWork.splice(0));
    },
  };
}
