/**
 * What the capacity report needs, kept in typed arrays per user and streaming histograms: no
 * per-message objects, so 1,000,000 users over days fit in a few tens of megabytes.
 *
 * A user's "obligation" is the message they are owed: it starts at the due time the engine gave
 * them (the first one, or the one after their last message) and ends with a sent message. Each
 * occurrence of their window from then on is a due slot; a slot is served when the message is
 * claimed inside it, missed when it ends without one. Failed attempts and quota deferrals keep
 * the obligation open, so they show as lateness, not as new slots.
 */
import { FREQUENCIES, FREQUENCY_INTERVAL_DAYS, type Frequency } from "@/core/schedule";
import type { Population } from "./population";
import type { WindowTable } from "./window-table";

const HOUR_MS = 3_600_000;

/** Who wrote a `users` document: the scheduler (reschedules, bootstraps, ranks) or a processor run. */
export type UserWriteSource = "scheduler" | "processor";
const DAY_MS = 86_400_000;
/** Lateness histogram: one bin per second up to 14 days, the last bin holding the rest. */
const LATENESS_BINS = 14 * 86_400 + 1;

export class CapacityMetrics {
  readonly obligationDue: Float64Array;
  readonly messages: Uint16Array;
  /** Windows each user waited through without a message (slots missed). */
  private readonly missed: Uint16Array;
  private readonly lastServedWindow: Int32Array;
  private readonly starved: Uint8Array;
  /** Starved with at least one missed window in which no run of theirs failed: the engine did not get to them. */
  private readonly starvedByCapacity: Uint8Array;
  /** Windows of the open obligation in which a run of the user's failed, and the last such window. */
  private readonly failedWindows: Uint16Array;
  private readonly lastFailedWindow: Int32Array;
  private readonly lateness = new Uint32Array(LATENESS_BINS);
  readonly dueByHour: Uint32Array;
  readonly servedByHour: Uint32Array;
  /** Every write on `users` per second, and the scheduler's and the processor's part of them. */
  readonly userWritesBySecond: Uint32Array;
  private readonly userWritesBySecondBySource: Record<UserWriteSource, Uint32Array>;
  readonly llmCallsByMinute: Uint32Array;
  /** LLM calls the ceiling admitted (reserved by runs) per UTC minute: what `LLM_CALLS_PER_MINUTE` bounds. */
  readonly llmCallsAdmittedByMinute: Uint32Array;
  readonly missedWindowsBeforeServe = [0, 0, 0, 0];
  servedSlots = 0;
  missedSlots = 0;
  /** Missed slots in which a run of the user's failed (its retry fell after the window). */
  missedSlotsWithAFailedRun = 0;
  sentAtTargetHour = 0;
  sentAfterWindowEnd = 0;
  duplicateSlotServes = 0;
  usersOwedAtEnd = 0;

  constructor(
    private readonly population: Population,
    private readonly windows: WindowTable,
    private readonly start: number,
    private readonly end: number,
  ) {
    const size = population.size;
    this.obligationDue = new Float64Array(size);
    this.messages = new Uint16Array(size);
    this.missed = new Uint16Array(size);
    this.lastServedWindow = new Int32Array(size).fill(-1);
    this.starved = new Uint8Array(size);
    this.starvedByCapacity = new Uint8Array(size);
    this.failedWindows = new Uint16Array(size);
    this.lastFailedWindow = new Int32Array(size).fill(-1);
    const hours = Math.ceil((end - start) / HOUR_MS);
    this.dueByHour = new Uint32Array(hours);
    this.servedByHour = new Uint32Array(hours);
    this.userWritesBySecond = new Uint32Array(Math.ceil((end - start) / 1_000));
    this.userWritesBySecondBySource = {
      scheduler: new Uint32Array(this.userWritesBySecond.length),
      processor: new Uint32Array(this.userWritesBySecond.length),
    };
    this.llmCallsByMinute = new Uint32Array(Math.ceil((end - start) / 60_000) + 1);
    this.llmCallsAdmittedByMinute = new Uint32Array(Math.ceil((end - start) / 60_000) + 1);
  }

  private intervalDays(user: number): number {
    return FREQUENCY_INTERVAL_DAYS[FREQUENCIES[this.population.frequencyOf[user] as number] as Frequency];
  }

  private add(series: Uint32Array, at: number, width: number, count = 1): void {
    const index = Math.floor((at - this.start) / width);
    if (index >= 0 && index < series.length) series[index] = (series[index] as number) + count;
  }

  /** When the owed message's slot opens: its due time, or the start of the first window after it. */
  private slotOpens(user: number, due: number): { first: number; opensAt: number } {
    const zone = this.population.zoneOf[user] as number;
    const preference = this.population.preferenceOf[user] as number;
    const first = this.windows.firstEndingAfter(zone, preference, due);
    const windowStart = this.windows.of(zone, preference).starts[first] as number;
    return { first, opensAt: Math.max(due, windowStart) };
  }

  /** The user is owed a message from `due` on (their first due time, or after a sent message). */
  owe(user: number, due: number): void {
    this.obligationDue[user] = due;
    this.failedWindows[user] = 0;
    this.lastFailedWindow[user] = -1;
    this.add(this.dueByHour, this.slotOpens(user, due).opensAt, HOUR_MS);
  }

  /** A run of the user's failed in window `window` (generation error or quality gate). */
  recordFailure(user: number, window: number): void {
    if (window < 0 || this.lastFailedWindow[user] === window) return;
    this.lastFailedWindow[user] = window;
    this.failedWindows[user] = (this.failedWindows[user] as number) + 1;
  }

  /** Marks a user starved (more than a period of windows missed in a row), and whether capacity had a part in it. */
  private starve(user: number, missed: number, missedWithAFailure: number): void {
    this.starved[user] = 1;
    if (missed > missedWithAFailure) this.starvedByCapacity[user] = 1;
  }

  recordUserWrites(at: number, count: number, source: UserWriteSource): void {
    this.add(this.userWritesBySecond, at, 1_000, count);
    this.add(this.userWritesBySecondBySource[source], at, 1_000, count);
  }

  recordLlmCall(at: number): void {
    this.add(this.llmCallsByMinute, at, 60_000);
  }

  /**
   * Reserves `calls` from the budget of `at`'s UTC minute, all or nothing (`limit` Infinity: no
   * ceiling, every reservation admitted and counted as demand). The simulation starts on a whole
   * minute, so its minutes are UTC minutes.
   */
  reserveLlmCalls(at: number, calls: number, limit: number): boolean {
    const index = Math.floor((at - this.start) / 60_000);
    const used = this.llmCallsAdmittedByMinute[index] ?? 0;
    if (used + calls > limit) return false;
    if (index >= 0 && index < this.llmCallsAdmittedByMinute.length)
      this.llmCallsAdmittedByMinute[index] = used + calls;
    return true;
  }

  /** A message was sent at `at` for the slot claimed in window `claimWindow`. */
  recordSend(user: number, at: number, claimWindow: number): void {
    const zone = this.population.zoneOf[user] as number;
    const preference = this.population.preferenceOf[user] as number;
    const window = claimWindow >= 0 ? claimWindow : this.windows.containing(zone, preference, at);
    const { first, opensAt } = this.slotOpens(user, this.obligationDue[user] as number);
    const missed = Math.max(0, window - first);
    this.servedSlots += 1;
    this.missedSlots += missed;
    this.missed[user] = (this.missed[user] as number) + missed;
    const bucket = Math.min(missed, 3);
    this.missedWindowsBeforeServe[bucket] = (this.missedWindowsBeforeServe[bucket] ?? 0) + 1;
    const failedInServedWindow = this.lastFailedWindow[user] === window ? 1 : 0;
    const missedWithAFailure = Math.min(missed, (this.failedWindows[user] as number) - failedInServedWindow);
    this.missedSlotsWithAFailedRun += missedWithAFailure;
    if (missed > this.intervalDays(user)) this.starve(user, missed, missedWithAFailure);
    const latenessBin = Math.min(LATENESS_BINS - 1, Math.max(0, Math.floor((at - opensAt) / 1_000)));
    this.lateness[latenessBin] = (this.lateness[latenessBin] as number) + 1;
    if (this.lastServedWindow[user] === window) this.duplicateSlotServes += 1;
    this.lastServedWindow[user] = window;
    const { targets, ends } = this.windows.of(zone, preference);
    const target = targets[window] as number;
    if (window >= 0 && at >= target && at < target + HOUR_MS) this.sentAtTargetHour += 1;
    if (window >= 0 && at >= (ends[window] as number)) this.sentAfterWindowEnd += 1;
    this.messages[user] = (this.messages[user] as number) + 1;
    this.add(this.servedByHour, at, HOUR_MS);
  }

  private latencyPercentile(share: number, total: number): number {
    let seen = 0;
    for (let bin = 0; bin < LATENESS_BINS; bin += 1) {
      seen += this.lateness[bin] as number;
      if (seen >= share * total) return bin;
    }
    return LATENESS_BINS - 1;
  }

  /** Closes the books at the end: owed messages whose windows ended count as missed slots. */
  summarise(days: number) {
    const { population, windows, end } = this;
    const byFrequency = FREQUENCIES.map(() => ({ users: 0, messages: 0, starved: 0 }));
    let starvedByCapacity = 0;
    const jain = new JainIndex();
    const jainByFrequency = FREQUENCIES.map(() => new JainIndex());
    for (let user = 0; user < population.size; user += 1) {
      const zone = population.zoneOf[user] as number;
      const preference = population.preferenceOf[user] as number;
      const openMissed = windows.endedBetween(zone, preference, this.obligationDue[user] as number, end);
      if (openMissed > 0) {
        this.usersOwedAtEnd += 1;
        this.missedSlots += openMissed;
        this.missedSlotsWithAFailedRun += Math.min(openMissed, this.failedWindows[user] as number);
        this.missed[user] = (this.missed[user] as number) + openMissed;
        if (openMissed > this.intervalDays(user))
          this.starve(user, openMissed, this.failedWindows[user] as number);
      }
      const entry = byFrequency[population.frequencyOf[user] as number];
      const messages = this.messages[user] as number;
      if (entry) {
        entry.users += 1;
        entry.messages += messages;
        entry.starved += this.starved[user] as number;
      }
      starvedByCapacity += this.starvedByCapacity[user] as number;
      // Messages per slot owed, so frequencies and a span shorter than a week compare fairly.
      const owed = messages + (this.missed[user] as number);
      if (owed > 0) jain.add(messages / owed);
      jainByFrequency[population.frequencyOf[user] as number]?.add(messages);
    }
    const sends = this.servedSlots;
    const due = this.servedSlots + this.missedSlots;
    return {
      dueSlotsEnded: due,
      servedSlots: this.servedSlots,
      missedSlots: this.missedSlots,
      servedInWindowShare: due > 0 ? this.servedSlots / due : 1,
      missedSlotsWithAFailedRun: this.missedSlotsWithAFailedRun,
      /**
       * The share served, leaving out slots whose runs in the window failed (the contract's retry
       * interval carried the retry past the window's end): what capacity and the scheduler decide.
       */
      servedInWindowShareOfSlotsWithoutAFailedRun:
        due - this.missedSlotsWithAFailedRun > 0
          ? this.servedSlots / (due - this.missedSlotsWithAFailedRun)
          : 1,
      sentAtTargetHourShare: sends > 0 ? this.sentAtTargetHour / sends : 0,
      sentAfterWindowEnd: this.sentAfterWindowEnd,
      latenessAfterDueSeconds: {
        p50: this.latencyPercentile(0.5, sends),
        p95: this.latencyPercentile(0.95, sends),
        max: this.latencyPercentile(1, sends),
      },
      windowsMissedBeforeServed: {
        none: this.missedWindowsBeforeServe[0],
        one: this.missedWindowsBeforeServe[1],
        two: this.missedWindowsBeforeServe[2],
        threeOrMore: this.missedWindowsBeforeServe[3],
      },
      messagesPerUserPerLocalDayByFrequency: Object.fromEntries(
        FREQUENCIES.map((frequency, index) => {
          const entry = byFrequency[index] ?? { users: 0, messages: 0, starved: 0 };
          return [
            frequency,
            { ...entry, perUserPerLocalDay: entry.users > 0 ? entry.messages / (entry.users * days) : null },
          ];
        }),
      ),
      starvedUsers: byFrequency.reduce((total, entry) => total + entry.starved, 0),
      /**
       * Starved users with a missed window in which no run of theirs failed: the engine did not
       * get to them (capacity, the ceiling). The rest missed only windows whose every run failed
       * (a run failing at the end of a window is retried after it: the contract's retry interval).
       */
      starvedUsersByCapacity: starvedByCapacity,
      usersOwedAtEndWithAWindowMissed: this.usersOwedAtEnd,
      duplicateSlotServes: this.duplicateSlotServes,
      /** Jain's index of each user's messages per slot owed (served + missed), over users owed any. */
      jainFairnessIndex: jain.value,
      /** Jain's index of raw messages per user within each frequency (a span shorter than the period lowers it). */
      jainOfMessagesByFrequency: Object.fromEntries(
        FREQUENCIES.map((frequency, index) => [frequency, jainByFrequency[index]?.value ?? null]),
      ),
      peakUserWritesPerSecond: peakOf(this.userWritesBySecond),
      peakUserWritesPerSecondBySource: {
        scheduler: peakOf(this.userWritesBySecondBySource.scheduler),
        processor: peakOf(this.userWritesBySecondBySource.processor),
      },
      /** Calls admitted by the ceiling (reserved) in the busiest minute: what LLM_CALLS_PER_MINUTE bounds. */
      peakLlmCallsPerMinute: peakOf(this.llmCallsAdmittedByMinute),
      /** Calls made in the busiest minute (a run's calls follow its reservation by seconds, so a minute may see some of the previous minute's). */
      peakLlmCallsMadePerMinute: peakOf(this.llmCallsByMinute),
      spanDays: (end - this.start) / DAY_MS,
    };
  }
}

/** Jain's fairness index (Σx)² / (n·Σx²): 1 when all are equal, 1/n when one has everything. */
class JainIndex {
  private count = 0;
  private sum = 0;
  private sumOfSquares = 0;

  add(value: number): void {
    this.count += 1;
    this.sum += value;
    this.sumOfSquares += value * value;
  }

  get value(): number | null {
    if (this.count === 0) return null;
    return this.sumOfSquares > 0 ? (this.sum * this.sum) / (this.count * this.sumOfSquares) : 1;
  }
}

/** The maximum of a series, by a loop: spreading 100,000 values into Math.max overflows the stack. */
function peakOf(series: Uint32Array): number {
  let peak = 0;
  for (const value of series) if (value > peak) peak = value;
  return peak;
}
