/**
 * The processor at its outcome level, on the virtual clock. MODELLED, not the real pipeline
 * (running process-user.ts for 1,000,000 users would not fit in the time): a dispatched user
 * waits for a free function instance (`functionConcurrency`), is claimed, reserves its two LLM
 * calls from the global per-minute ceiling once, makes them (generation, then outcome scoring)
 * with lognormal latency and a failure rate, and is rescheduled.
 *
 * REAL code on the way: the claim-time check is core/due-slot.ts `decideProcessing` on the
 * user's document as the store holds it; the reschedule is core/schedule.ts
 * `nextDueAfterSuccess` (sent) or `retryDueAt` (failed), written through the store's
 * `setNextDue`, as process-user.ts does.
 *
 * The ceiling as the processor applies it (`LlmCallCeiling.reserve`): a run reserves the calls
 * it is expected to make (EXPECTED_LLM_CALLS_PER_RUN) once, after its claim, all or nothing and
 * exactly per UTC minute. A run that finds the minute's budget spent is a deferral
 * (`ceiling_reached`): no call, no failure, nothing toward suspension, and the user is due again
 * at the start of the next minute plus a few seconds of per-user jitter, so a later step of the
 * scheduler's chain takes them again inside the window; when the window has closed by then, the
 * real scheduler moves them to their next window. A second dispatch of a user whose run is still
 * going finds the slot's lease held and does nothing, as the processor's `create()` claim makes it.
 */
import { decideProcessing, EXPECTED_LLM_CALLS_PER_RUN } from "@/core/due-slot";
import { FREQUENCIES, nextDueAfterSuccess, retryDueAt, TIME_PREFERENCES } from "@/core/schedule";
import { parseUserDocument } from "@/core/user";
import type { CapacityMetrics } from "./capacity-metrics";
import { BENCH_PROCESSOR_OVERHEAD_MS, LLM_COST_USD } from "./cost-model";
import type { EventQueue } from "./event-queue";
import type { IndexedSchedulerStore } from "./indexed-scheduler-store";
import { type Population, uidOf } from "./population";
import type { WindowTable } from "./window-table";

const HALF_OVERHEAD_MS = Math.round(BENCH_PROCESSOR_OVERHEAD_MS / 2);

/** Per-user jitter of a ceiling deferral's due time after the next minute's start (the processor's `ceilingJitterMs`: under 10 s). */
export const CEILING_JITTER_MS = 10_000;

/** The AI SDK's backoff before its first retry of a failed request (doubling after). */
const SDK_RETRY_BASE_MS = 2_000;

export const EVENT = { dispatch: 0, generation: 1, scoring: 2, sent: 3, failed: 4 } as const;

export interface ProcessorModelOptions {
  functionConcurrency: number;
  /** Global LLM calls per calendar minute; Infinity for no ceiling. */
  llmCallsPerMinute: number;
  /**
   * Share of provider requests that fail. A call is the SDK's request and up to `maxRetries`
   * retries of it (production's `LLM_MAX_RETRIES`), 2 s then 4 s … apart, as the AI SDK does; the
   * call fails when every request fails.
   */
  failureRate: number;
  maxRetries: number;
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
    retriedRequests: 0,
    deferredByLlmCeiling: 0,
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
    this.metrics.recordUserWrites(at, 1, "processor");
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
    if (!this.metrics.reserveLlmCalls(at, EXPECTED_LLM_CALLS_PER_RUN, this.options.llmCallsPerMinute)) {
      // The processor's `ceiling_reached`: due again at the next minute, spread over its first seconds.
      this.stats.deferredByLlmCeiling += 1;
      const nextMinute = (Math.floor(at / 60_000) + 1) * 60_000;
      this.write(user, at, nextMinute + Math.floor(this.options.random() * CEILING_JITTER_MS));
      this.release(user, at);
      return;
    }
    this.claimedAt[user] = at;
    this.claimWindow[user] = this.windows.containing(
      this.population.zoneOf[user] as number,
      this.population.preferenceOf[user] as number,
      at,
    );
    this.queue.push(at + HALF_OVERHEAD_MS, EVENT.generation, user);
  }

  private call(user: number, at: number, next: number): void {
    this.metrics.recordLlmCall(at);
    if (next === EVENT.scoring) this.stats.generationCalls += 1;
    else this.stats.scoringCalls += 1;
    let elapsed = 0;
    for (let attempt = 0; ; attempt += 1) {
      elapsed += this.options.latencyMs();
      if (this.options.random() >= this.options.failureRate) break;
      if (attempt >= this.options.maxRetries) {
        this.queue.push(at + elapsed, EVENT.failed, user);
        return;
      }
      this.stats.retriedRequests += 1;
      elapsed += SDK_RETRY_BASE_MS * 2 ** attempt;
    }
    this.queue.push(at + elapsed + (next === EVENT.sent ? HALF_OVERHEAD_MS : 0), next, user);
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
    this.metrics.recordFailure(user, this.claimWindow[user] as number);
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
