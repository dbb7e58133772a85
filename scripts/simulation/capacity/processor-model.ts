/**
 * The processor at its outcome level, on the virtual clock. MODELLED, not the real pipeline
 * (running process-user.ts for 1,000,000 users would not fit in the time): a dispatched user
 * waits for a free function instance (`functionConcurrency`), is claimed, makes two LLM calls
 * (generation, then outcome scoring) with lognormal latency and a failure rate, each call first
 * taking a token from the global per-minute ceiling, and is rescheduled.
 *
 * REAL code on the way: the claim-time check is core/due-slot.ts `decideProcessing` on the
 * user's document as the store holds it; the reschedule is core/schedule.ts
 * `nextDueAfterSuccess` (sent) or `retryDueAt` (failed), written through the store's
 * `setNextDue`, as process-user.ts does.
 *
 * A call that finds the minute's ceiling spent stops the run without a failure, as the issue
 * requires: nothing is stored, the user is not counted toward suspension, and their due time is
 * set to the start of the next minute, so the next scheduler run inside the window takes them
 * again (oldest due first); when the window has closed by then, the real scheduler moves them to
 * their next window. With `ceilingWaitMs` the run instead waits inside its invocation (holding
 * its function instance) for a later minute's budget, as long as its whole wait stays within
 * that bound (below the processor route's maxDuration of 300 s), and stops as above after it. A second dispatch of a user whose run is still going finds the slot's lease
 * held and does nothing, as the processor's `create()` claim makes it.
 */
import { decideProcessing } from "@/core/due-slot";
import { FREQUENCIES, nextDueAfterSuccess, retryDueAt, TIME_PREFERENCES } from "@/core/schedule";
import { parseUserDocument } from "@/core/user";
import type { CapacityMetrics } from "./capacity-metrics";
import { BENCH_PROCESSOR_OVERHEAD_MS, LLM_COST_USD } from "./cost-model";
import type { EventQueue } from "./event-queue";
import type { IndexedSchedulerStore } from "./indexed-scheduler-store";
import { type Population, uidOf } from "./population";
import type { WindowTable } from "./window-table";

const HALF_OVERHEAD_MS = Math.round(BENCH_PROCESSOR_OVERHEAD_MS / 2);

export const EVENT = { dispatch: 0, generation: 1, scoring: 2, sent: 3, failed: 4 } as const;

export interface ProcessorModelOptions {
  functionConcurrency: number;
  /** Global LLM calls per calendar minute; Infinity for no ceiling. */
  llmCallsPerMinute: number;
  /** Share of LLM calls that fail (after the SDK's own retries). */
  failureRate: number;
  /** How long a run may wait in all for the ceiling's next minute before it stops; 0 stops at once. */
  ceilingWaitMs: number;
  latencyMs: () => number;
  random: () => number;
}

export class ProcessorModel {
  readonly stats = {
    dispatches: 0,
    dispatchesToRunningUser: 0,
    claims: 0,
    skippedAtClaim: 0,
    generationCalls: 0,
    scoringCalls: 0,
    failedRuns: 0,
    deferredByLlmCeiling: 0,
    waitsForLlmCeiling: 0,
    sent: 0,
    peakRunning: 0,
    peakWaitingForInstance: 0,
  };
  private readonly inFlight: Uint8Array;
  private readonly claimWindow: Int32Array;
  private readonly claimedAt: Float64Array;
  private readonly waiting: Int32Array;
  private waitingHead = 0;
  private waitingCount = 0;
  private running = 0;

  constructor(
    private readonly store: IndexedSchedulerStore,
    private readonly population: Population,
    private readonly windows: WindowTable,
    private readonly metrics: CapacityMetrics,
    private readonly queue: EventQueue,
    private readonly options: ProcessorModelOptions,
  ) {
    this.inFlight = new Uint8Array(population.size);
    this.claimWindow = new Int32Array(population.size);
    this.claimedAt = new Float64Array(population.size);
    this.waiting = new Int32Array(population.size);
  }

  /** Whether `slotId`'s run is in progress: what the scheduler's open-slot check reads. */
  isRunning(user: number): boolean {
    return this.inFlight[user] === 1;
  }

  get llmCostUsd(): number {
    return (
      this.stats.generationCalls * LLM_COST_USD.generation + this.stats.scoringCalls * LLM_COST_USD.scoring
    );
  }

  handle(kind: number, user: number, at: number): void {
    if (kind === EVENT.dispatch) this.arrive(user, at);
    else if (kind === EVENT.generation) this.call(user, at, EVENT.scoring);
    else if (kind === EVENT.scoring) this.call(user, at, EVENT.sent);
    else if (kind === EVENT.sent) this.finishSent(user, at);
    else this.finishFailed(user, at);
  }

  private arrive(user: number, at: number): void {
    this.stats.dispatches += 1;
    if (this.inFlight[user] === 1) {
      this.stats.dispatchesToRunningUser += 1;
      return;
    }
    this.inFlight[user] = 1;
    if (this.running < this.options.functionConcurrency) {
      this.claim(user, at);
      return;
    }
    this.waiting[(this.waitingHead + this.waitingCount) % this.waiting.length] = user;
    this.waitingCount += 1;
    this.stats.peakWaitingForInstance = Math.max(this.stats.peakWaitingForInstance, this.waitingCount);
  }

  private write(user: number, at: number, nextCoachingMessageDue: number): void {
    this.store.applyNextDue([{ uid: uidOf(user), nextCoachingMessageDue }]);
    this.metrics.recordUserWrites(at, 1);
  }

  private claim(user: number, at: number): void {
    this.running += 1;
    this.stats.peakRunning = Math.max(this.stats.peakRunning, this.running);
    const snapshot = parseUserDocument(uidOf(user), this.store.readUser(uidOf(user)));
    const decision = decideProcessing({ snapshot, now: at });
    if (decision.action === "skip") {
      this.stats.skippedAtClaim += 1;
      if (decision.nextCoachingMessageDue !== undefined) {
        this.write(user, at, decision.nextCoachingMessageDue);
      }
      this.release(user, at);
      return;
    }
    this.stats.claims += 1;
    this.claimedAt[user] = at;
    this.claimWindow[user] = this.windows.containing(
      this.population.zoneOf[user] as number,
      this.population.preferenceOf[user] as number,
      at,
    );
    this.queue.push(at + HALF_OVERHEAD_MS, EVENT.generation, user);
  }

  private call(user: number, at: number, next: number): void {
    if (this.metrics.llmCallsInMinuteOf(at) >= this.options.llmCallsPerMinute) {
      const nextMinute = (Math.floor(at / 60_000) + 1) * 60_000;
      // Spread over the next minute's first second, as independent instances would wake.
      const retryAt = nextMinute + Math.floor(this.options.random() * 1_000);
      if (retryAt - (this.claimedAt[user] as number) <= this.options.ceilingWaitMs) {
        this.stats.waitsForLlmCeiling += 1;
        this.queue.push(retryAt, next === EVENT.scoring ? EVENT.generation : EVENT.scoring, user);
        return;
      }
      this.stats.deferredByLlmCeiling += 1;
      this.write(user, at, nextMinute);
      this.release(user, at);
      return;
    }
    this.metrics.recordLlmCall(at);
    if (next === EVENT.scoring) this.stats.generationCalls += 1;
    else this.stats.scoringCalls += 1;
    const latency = this.options.latencyMs();
    if (this.options.random() < this.options.failureRate) {
      this.queue.push(at + latency, EVENT.failed, user);
      return;
    }
    this.queue.push(at + latency + (next === EVENT.sent ? HALF_OVERHEAD_MS : 0), next, user);
  }

  private settingsOf(user: number) {
    return {
      timezone: this.population.zones[this.population.zoneOf[user] as number] as string,
      frequency: FREQUENCIES[this.population.frequencyOf[user] as number] ?? "daily",
      timePreference: TIME_PREFERENCES[this.population.preferenceOf[user] as number] ?? "morning",
    };
  }

  private finishSent(user: number, at: number): void {
    this.stats.sent += 1;
    this.metrics.recordSend(user, at, this.claimWindow[user] as number);
    const next = nextDueAfterSuccess({ now: at, ...this.settingsOf(user) });
    this.metrics.owe(user, next);
    this.write(user, at, next);
    this.release(user, at);
  }

  private finishFailed(user: number, at: number): void {
    this.stats.failedRuns += 1;
    this.write(user, at, retryDueAt({ now: at, frequency: this.settingsOf(user).frequency }));
    this.release(user, at);
  }

  /** The instance is free: the longest-waiting dispatched user takes it. */
  private release(user: number, at: number): void {
    this.inFlight[user] = 0;
    this.running -= 1;
    if (this.waitingCount === 0) return;
    const next = this.waiting[this.waitingHead] as number;
    this.waitingHead = (this.waitingHead + 1) % this.waiting.length;
    this.waitingCount -= 1;
    this.claim(next, at);
  }
}
