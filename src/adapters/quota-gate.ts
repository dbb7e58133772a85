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
}

/** Runs one gate operation; the Firestore store turns vendor failures into its error type here. */
type Run = <Result>(operation: string, work: () => Promise<Result>) => Promise<Result>;

export function createQuotaGate(counters: QuotaCounters, run: Run = (_operation, work) => work()): QuotaGate {
  const { readUsage, bump, claimToken } = counters;
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

    usage: ({ uid, now, keySource }) =>
      run("read usage", async () => {
        const pool = { uid, keySource };
        const keys = windowKeys(now);
        const [minute, day, month] = await Promise.all([
          readUsage(pool, "minute", keys.minute),
          readUsage(pool, "day", keys.day),
          readUsage(pool, "month", keys.month),
        ]);
        return { minute, day, month };
      }),
  };
}
