/**
 * The per-user quota gate, written once over three storage primitives that the Firestore store
 * and its in-memory twin each provide (adapters/firestore/quota-store.ts,
 * adapters/memory/quota-store.ts), so the two differ only in how a counter is read, incremented
 * and a token created — the parts their shared contract tests hold to the same behaviour:
 * - calls on a user's own key and on the default key are counted apart (`keySource`);
 * - the minute limit is exact: admission n of a minute is the `create()` of token n, n ≤ limit,
 *   and exactly one caller creates each token;
 * - day and month are incremented, then checked; a request that finds the count over the limit
 *   takes its increment back. This never admits more than the limit (the last admitted request
 *   counted every admitted one before it), and under a burst at the very edge may refuse some that
 *   would have fitted (each refused request's increment is seen by the others until it is taken
 *   back); one user's runs are serialised by the slot lease, so such bursts are rare.
 *
 * The processor and the outbox use the per-run pair instead (`admitRun`, `recordRun`): one read
 * of the pool's month document before a run and one write to it after, which is what a processed
 * user costs. The month's counters are shared by both paths; the runs' day and minute counts are
 * maps on the month document (`RunUsage`), which the per-call `acquire` does not see (nothing uses
 * both). There the limits are checked against recorded usage, not reserved, so they may be
 * overshot by the calls of a user's runs in flight at once (docs/generation.md).
 */
import { checkBudget, overLimit, type QuotaDecision, type QuotaWindow, windowKeys } from "@/core/quota";
import { ttlRetentionRule } from "@/core/retention";
import type { LlmCallRecord, QuotaGate, UsageWindow } from "@/pipeline/processor-ports";

export type KeySource = LlmCallRecord["keySource"];

/** Whose counters: one user's calls on one kind of key. */
export interface QuotaPool {
  uid: string;
  keySource: KeySource;
}

export type UsageCounter = "requests" | "inputTokens" | "outputTokens" | "cost";

/** Document-id suffix of a pool: the default key's documents keep the plain ids. */
export const quotaPoolSuffix = (keySource: KeySource) => (keySource === "user" ? "_ownkey" : "");

export const QUOTA_TOKEN_RETENTION = ttlRetentionRule("quotaTokens");
export const QUOTA_USAGE_RETENTION = {
  minute: ttlRetentionRule("minuteUsage"),
  day: ttlRetentionRule("dayUsage"),
  month: ttlRetentionRule("monthUsage"),
} satisfies Record<QuotaWindow, unknown>;

/**
 * What the per-run pair keeps on the pool's month document, beside the month's counters (which
 * both paths share), as top-level fields (the emulator cannot increment a nested field):
 * `runDay_d15_requests` (and `_inputTokens`, `_outputTokens`, `_cost`) for each day of the month,
 * and for each minute of the day (`m1230`) the runs' requests with the day they are from
 * (`runMinute_m1230`, `runMinuteDay_m1230`): a count from an earlier day is not this minute's. A
 * run writes its minute's count as a value computed from its check's read (not an increment, so a
 * count from an earlier day is replaced, never deleted: the emulator ignores field deletes), at
 * most 1,440 such pairs: the document stays far below Firestore's limits.
 */
export interface RunUsage {
  month: UsageWindow;
  /** `runDay_…` fields: day (`d01`…`d31`) → the runs' counters that day. */
  days: Record<string, Partial<Record<UsageCounter, number>>>;
  /** Minute of the day (`m1230`) → the runs' requests in it and the day (`d15`) they are from. */
  minutes: Record<string, { day: string; requests: number }>;
}

/** The day of `now` and its minute field, as the month document names them. */
export function runUsageKeys(now: number): { day: string; minute: string } {
  const date = new Date(now);
  const pad = (value: number) => String(value).padStart(2, "0");
  return {
    day: `d${pad(date.getUTCDate())}`,
    minute: `m${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}`,
  };
}

/** The month document's fields of a minute of the day: its count and the day it is from. */
export const runMinuteFields = (minute: string) => ({
  requests: `runMinute_${minute}`,
  day: `runMinuteDay_${minute}`,
});

/** The month document's field of a day's counter. */
export const runDayField = (day: string, counter: UsageCounter) => `runDay_${day}_${counter}`;

/** Reads the run maps out of a month document's fields. */
export function parseRunUsage(monthKey: string, data: Record<string, unknown>): RunUsage {
  const number = (value: unknown) => (typeof value === "number" ? value : 0);
  const days: RunUsage["days"] = {};
  const minutes: RunUsage["minutes"] = {};
  for (const [field, value] of Object.entries(data)) {
    const day = /^runDay_(d\d\d)_(requests|inputTokens|outputTokens|cost)$/.exec(field);
    const minute = /^runMinute_(m\d{4})$/.exec(field)?.[1];
    if (day?.[1] && day[2]) days[day[1]] = { ...days[day[1]], [day[2]]: number(value) };
    else if (minute) {
      const from = data[runMinuteFields(minute).day];
      minutes[minute] = { day: typeof from === "string" ? from : "", requests: number(value) };
    }
  }
  return {
    month: {
      window: "month",
      key: monthKey,
      requests: number(data.requests),
      inputTokens: number(data.inputTokens),
      outputTokens: number(data.outputTokens),
      cost: number(data.cost),
    },
    days,
    minutes,
  };
}

/** What a store must provide; each is one round trip to it. */
export interface QuotaCounters {
  readUsage(pool: QuotaPool, window: QuotaWindow, key: string): Promise<UsageWindow>;
  /** Adds `fields` to the window's counters atomically (an increment, never read-then-write). */
  bump(
    pool: QuotaPool,
    window: QuotaWindow,
    key: string,
    fields: Partial<Record<UsageCounter, number>>,
    now: number,
  ): Promise<void>;
  /** Creates minute token `token`; "exists" when another caller created it first. */
  claimToken(pool: QuotaPool, minuteKey: string, token: number, now: number): Promise<"created" | "exists">;
  /** Reads the pool's month document with its run maps (one read). */
  readRunUsage(pool: QuotaPool, monthKey: string): Promise<RunUsage>;
  /**
   * One write to the month document, atomically: adds `fields` to the month's counters and to
   * day `day`'s, and sets minute `minute`'s count to `minuteRequests` (from day `day`).
   */
  bumpRun(
    pool: QuotaPool,
    monthKey: string,
    input: {
      day: string;
      minute: string;
      minuteRequests: number;
      fields: Record<UsageCounter, number>;
    },
    now: number,
  ): Promise<void>;
}

/** Runs one gate operation; the Firestore store turns vendor failures into its error type here. */
type Run = <Result>(operation: string, work: () => Promise<Result>) => Promise<Result>;

export function createQuotaGate(counters: QuotaCounters, run: Run = (_operation, work) => work()): QuotaGate {
  const { readUsage, bump, claimToken, readRunUsage, bumpRun } = counters;
  /**
   * The minute count each pool's last run check read (with its minute), plus what runs recorded
   * on this gate since, so the run's write can set the minute's new count without reading again
   * (a gate serves a request or a drain: a run checks, then records, on it). Runs of one user
   * recorded in the same minute at once through different gates (processes) may each write their
   * own sum: the minute's count then misses one of them (the documented overshoot, within a minute).
   */
  const minuteSeen = new Map<string, { day: string; minute: string; requests: number }>();
  const poolKey = ({ uid, keySource }: QuotaPool) => `${uid}${quotaPoolSuffix(keySource)}`;
  return {
    acquire: ({ uid, now, limits, keySource }) =>
      run("check quota", async (): Promise<QuotaDecision> => {
        const pool = { uid, keySource };
        const keys = windowKeys(now);
        const [minute, month] = await Promise.all([
          readUsage(pool, "minute", keys.minute),
          readUsage(pool, "month", keys.month),
        ]);
        const budget = checkBudget({ monthCostUsd: month.cost, limits, now });
        if (!budget.allowed) return budget;

        let admitted = false;
        for (let token = minute.requests + 1; token <= limits.perMinute && !admitted; token += 1) {
          admitted = (await claimToken(pool, keys.minute, token, now)) === "created";
        }
        if (!admitted) return overLimit("minute", limits.perMinute, now);
        await bump(pool, "minute", keys.minute, { requests: 1 }, now);

        await Promise.all([
          bump(pool, "day", keys.day, { requests: 1 }, now),
          bump(pool, "month", keys.month, { requests: 1 }, now),
        ]);
        const [day, monthAfter] = await Promise.all([
          readUsage(pool, "day", keys.day),
          readUsage(pool, "month", keys.month),
        ]);
        const over =
          day.requests > limits.perDay
            ? overLimit("day", limits.perDay, now)
            : monthAfter.requests > limits.perMonth
              ? overLimit("month", limits.perMonth, now)
              : null;
        if (over) {
          await Promise.all([
            bump(pool, "day", keys.day, { requests: -1 }, now),
            bump(pool, "month", keys.month, { requests: -1 }, now),
          ]);
          return over;
        }
        return { allowed: true };
      }),

    record: ({ uid, now, keySource, inputTokens, outputTokens, cost }) =>
      run("record usage", async () => {
        const pool = { uid, keySource };
        const keys = windowKeys(now);
        const fields = { inputTokens, outputTokens, cost };
        await Promise.all([
          bump(pool, "day", keys.day, fields, now),
          bump(pool, "month", keys.month, fields, now),
        ]);
      }),

    admitRun: ({ uid, now, limits, keySource, calls }) =>
      run("check run quota", async (): Promise<QuotaDecision> => {
        const pool = { uid, keySource };
        const run = runUsageKeys(now);
        const usage = await readRunUsage(pool, windowKeys(now).month);
        const stored = usage.minutes[run.minute];
        const minute = stored?.day === run.day ? stored.requests : 0;
        minuteSeen.set(poolKey(pool), { ...run, requests: minute });
        const day = usage.days[run.day]?.requests ?? 0;
        const budget = checkBudget({ monthCostUsd: usage.month.cost, limits, now });
        if (!budget.allowed) return budget;
        if (minute + calls > limits.perMinute) return overLimit("minute", limits.perMinute, now);
        if (day + calls > limits.perDay) return overLimit("day", limits.perDay, now);
        if (usage.month.requests + calls > limits.perMonth) return overLimit("month", limits.perMonth, now);
        return { allowed: true };
      }),

    recordRun: ({ uid, now, keySource, requests, inputTokens, outputTokens, cost }) =>
      run("record run usage", async () => {
        if (requests === 0) return;
        const fields = { requests, inputTokens, outputTokens, cost };
        const pool = { uid, keySource };
        const keys = runUsageKeys(now);
        const seen = minuteSeen.get(poolKey(pool));
        const sameMinute = seen?.day === keys.day && seen.minute === keys.minute;
        const before = sameMinute ? seen.requests : 0;
        // Kept, with this run's calls added, not dropped: another run checked on this gate at the
        // same time (an outbox drain runs a user's events concurrently) records after this one,
        // and its count must include this run's and what was recorded before both. A count of
        // another minute (a later run's check) is left as it is.
        if (sameMinute) minuteSeen.set(poolKey(pool), { ...keys, requests: before + requests });
        await bumpRun(
          pool,
          windowKeys(now).month,
          { ...keys, minuteRequests: before + requests, fields },
          now,
        );
      }),

    usage: ({ uid, now, keySource }) =>
      run("read usage", async () => {
        const pool = { uid, keySource };
        const keys = windowKeys(now);
        const run = runUsageKeys(now);
        // The month document serves both paths; the per-call path's minute and day documents and
        // the runs' maps are added up.
        const [minute, day, runs] = await Promise.all([
          readUsage(pool, "minute", keys.minute),
          readUsage(pool, "day", keys.day),
          readRunUsage(pool, keys.month),
        ]);
        const runDay = runs.days[run.day] ?? {};
        return {
          minute: {
            ...minute,
            requests:
              minute.requests +
              (runs.minutes[run.minute]?.day === run.day ? (runs.minutes[run.minute]?.requests ?? 0) : 0),
          },
          day: {
            ...day,
            requests: day.requests + (runDay.requests ?? 0),
            inputTokens: day.inputTokens + (runDay.inputTokens ?? 0),
            outputTokens: day.outputTokens + (runDay.outputTokens ?? 0),
            cost: day.cost + (runDay.cost ?? 0),
          },
          month: runs.month,
        };
      }),
  };
}
