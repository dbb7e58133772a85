/**
 * A step's time: its clock and its waits (counted into `pacedWaitMs`), the paces of its writes on
 * `users` and of its dispatches, and the dispatch deadline at which calls still in flight are
 * aborted. The minute's share of the LLM ceiling is kept by the due walk (due-walk.ts).
 */

import type { SchedulerResults } from "../scheduler-run-record";
import type { RunSchedulerInput, SchedulerSettings } from "./input";

/** Dispatch deadline after the budget when the settings name none: the old processor-call timeout. */
const DEFAULT_DISPATCH_GRACE_MS = 10_000;

/**
 * Waits on the real clock until `elapsedMs()` reaches `elapsed`. A Node timer counts from the
 * event loop's cached time and may fire a little before a fresh reading of the step's clock
 * reaches its target: the wait goes on until it has, so a pace never starts a unit early and a
 * step waiting for the next minute does not wake in the last millisecond of the old one.
 */
export function timerWait(elapsedMs: () => number): (elapsed: number) => Promise<void> {
  return async (elapsed) => {
    let reading = elapsedMs();
    while (reading < elapsed) {
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(elapsed - reading)));
      const previous = reading;
      reading = elapsedMs();
      // A clock that did not move while a timer ran (a test's frozen one) is not waited on forever.
      if (reading <= previous) return;
    }
  };
}

/**
 * A pace of so many units per second on the step's clock: `take(n)` waits for the slot the
 * previous units left and books the next one n / perSecond seconds later. Slots are booked
 * synchronously, so concurrent callers are served in the order they asked. Over any second at
 * most perSecond units start, plus the last caller's own units (callers keep those small).
 */
export class Pace {
  private nextAt = 0;

  constructor(
    private readonly perSecond: number | undefined,
    private readonly clock: StepClock,
  ) {}

  /** The largest booking that keeps a second's units within about 10 % of the pace. */
  get chunk(): number {
    return this.perSecond ? Math.max(1, Math.floor(this.perSecond / 10)) : Number.POSITIVE_INFINITY;
  }

  /** Milliseconds `units` take at this pace. */
  durationMs(units: number): number {
    return this.perSecond ? (units * 1_000) / this.perSecond : 0;
  }

  /** When on the step's clock the next unit would start: the end of the last booking, or now. */
  nextStartMs(): number {
    const now = this.clock.elapsedMs();
    return this.perSecond && Number.isFinite(this.perSecond) ? Math.max(this.nextAt, now) : now;
  }

  /** Units this pace lets start from now until the step's clock reads `untilMs` (Infinity without a pace). */
  unitsBefore(untilMs: number): number {
    if (!this.perSecond || !Number.isFinite(this.perSecond)) return Number.POSITIVE_INFINITY;
    const from = Math.max(this.nextAt, this.clock.elapsedMs());
    return Math.max(0, Math.floor(((untilMs - from) * this.perSecond) / 1_000));
  }

  async take(units: number, counted = true): Promise<void> {
    if (!this.perSecond || !Number.isFinite(this.perSecond)) return;
    const startAt = Math.max(this.nextAt, this.clock.elapsedMs());
    this.nextAt = startAt + this.durationMs(units);
    await this.clock.waitUntil(startAt, counted);
  }
}

/** The step's clock: elapsed time, and waiting, counted into the run's `pacedWaitMs`. */
export class StepClock {
  constructor(
    readonly elapsedMs: () => number,
    private readonly wait: (elapsed: number) => Promise<void>,
    private readonly results: SchedulerResults,
  ) {}

  /** Waits until `elapsed`; `counted` waits (one at a time, not the dispatches' overlapping ones) add to `pacedWaitMs`. */
  async waitUntil(elapsed: number, counted = true): Promise<void> {
    const before = this.elapsedMs();
    if (elapsed <= before) return;
    await this.wait(elapsed);
    if (counted) {
      this.results.pacedWaitMs =
        (this.results.pacedWaitMs ?? 0) + Math.round(Math.max(0, this.elapsedMs() - before));
    }
  }
}

/** A step's paces: its clock, its own writes on `users`, and its dispatches. */
export interface StepPace {
  clock: StepClock;
  writes: Pace;
  dispatches: Pace;
}

/** The longest delay a Node timer holds. */
const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** When, on the step's clock, processor calls still in flight are aborted. */
export function dispatchDeadlineMs(settings: SchedulerSettings): number {
  return settings.dispatchDeadlineMs ?? settings.timeBudgetMs + DEFAULT_DISPATCH_GRACE_MS;
}

/** Aborts processor calls still in flight at the step's dispatch deadline (on the real clock). */
export function dispatchDeadline(input: RunSchedulerInput): { signal: AbortSignal; clear: () => void } {
  const { settings, elapsedMs } = input;
  const deadlineMs = dispatchDeadlineMs(settings);
  const controller = new AbortController();
  const delayMs = Math.max(0, deadlineMs - elapsedMs());
  // Node runs a timer longer than it can hold (2^31 − 1 ms, about 24 days; Infinity, an unbounded
  // budget in simulations) after 1 ms, which would abort every call: such a deadline is none.
  if (!(delayMs <= MAX_TIMER_DELAY_MS)) return { signal: controller.signal, clear: () => {} };
  const timer = setTimeout(
    () => controller.abort(new Error("the scheduler step's dispatch deadline passed")),
    delayMs,
  );
  // Never keeps a process alive on its own (scripts, simulations).
  timer.unref?.();
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
