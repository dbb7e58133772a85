/**
 * An in-memory twin of the Firestore quota store (adapters/firestore/quota-store.ts): the same
 * reads and writes in the same order over plain shared data, so that interleaved async calls race
 * exactly as they do on Firestore. Every step that is a round trip on Firestore yields here, so a
 * burst of concurrent `acquire`s interleaves between its reads, its token claims and its
 * increments, and shows the same edge behaviour (a day or month burst never admits one too many, and
 * may refuse requests that would have fitted: in lock-step, every one that saw the others' increments). Minute admissions are `create()`-style inserts of
 * token `${uid}_${minute}_${n}`: exactly one caller inserts each. It passes the same contract
 * tests as the Firestore store (test/adapters/quota-store.contract.ts).
 */
import { checkBudget, overLimit, type QuotaDecision, type QuotaWindow, windowKeys } from "@/core/quota";
import { retentionExpiry, ttlRetentionRule } from "@/core/retention";
import type { LlmCallRecord, QuotaGate, UsageWindow } from "@/pipeline/processor-ports";

type KeySource = LlmCallRecord["keySource"];

/** A `llmUsage` document: counters absent until first incremented, as on Firestore. */
export interface InMemoryUsageDocument {
  uid: string;
  keySource: KeySource;
  window: QuotaWindow;
  key: string;
  updatedAt: number;
  /** The TTL field (`expireAt`), unix ms. */
  expireAt: number;
  requests?: number;
  inputTokens?: number;
  outputTokens?: number;
  cost?: number;
}

/** A `llmQuotaTokens` document: one minute admission. */
export interface InMemoryQuotaToken {
  uid: string;
  keySource: KeySource;
  window: string;
  token: number;
  claimedAt: number;
  /** The TTL field (`expireAt`), unix ms. */
  expireAt: number;
}

/** The two collections, keyed by the Firestore document ids; a simulation may share them. */
export interface InMemoryQuotaData {
  usage: Map<string, InMemoryUsageDocument>;
  tokens: Map<string, InMemoryQuotaToken>;
}

export function createInMemoryQuotaData(): InMemoryQuotaData {
  return { usage: new Map(), tokens: new Map() };
}

type Counter = "requests" | "inputTokens" | "outputTokens" | "cost";

const poolSuffix = (keySource: KeySource) => (keySource === "user" ? "_ownkey" : "");

const TOKEN_RETENTION = ttlRetentionRule("quotaTokens");
const USAGE_RETENTION = {
  minute: ttlRetentionRule("minuteUsage"),
  day: ttlRetentionRule("dayUsage"),
  month: ttlRetentionRule("monthUsage"),
} satisfies Record<QuotaWindow, unknown>;

/** One Firestore round trip: other calls run in between (a microtask, so fake timers never stall it). */
const roundTrip = () => Promise.resolve();

/**
 * The in-memory QuotaGate over `data`: per-minute admission tokens claimed by insert-if-absent,
 * day and month counters incremented then checked (and taken back when over), a monthly budget
 * from the recorded cost, own-key and default-key calls counted apart.
 */
export function createInMemoryQuotaStore(data: InMemoryQuotaData): QuotaGate {
  interface Pool {
    uid: string;
    keySource: KeySource;
  }
  const usageId = (pool: Pool, window: QuotaWindow, key: string) =>
    `${pool.uid}_${window}_${key}${poolSuffix(pool.keySource)}`;

  const readUsage = async (pool: Pool, window: QuotaWindow, key: string): Promise<UsageWindow> => {
    await roundTrip();
    const stored = data.usage.get(usageId(pool, window, key));
    return {
      window,
      key,
      requests: stored?.requests ?? 0,
      inputTokens: stored?.inputTokens ?? 0,
      outputTokens: stored?.outputTokens ?? 0,
      cost: stored?.cost ?? 0,
    };
  };

  /** `set({... FieldValue.increment}, { merge: true })`: one atomic read-modify-write of a document. */
  const bump = async (
    pool: Pool,
    window: QuotaWindow,
    key: string,
    fields: Partial<Record<Counter, number>>,
    now: number,
  ) => {
    await roundTrip();
    const id = usageId(pool, window, key);
    const stored = data.usage.get(id);
    const next: InMemoryUsageDocument = {
      ...stored,
      uid: pool.uid,
      keySource: pool.keySource,
      window,
      key,
      updatedAt: now,
      expireAt: retentionExpiry(USAGE_RETENTION[window], now),
    };
    for (const [field, delta] of Object.entries(fields) as [Counter, number][]) {
      next[field] = (stored?.[field] ?? 0) + delta;
    }
    data.usage.set(id, next);
  };

  /** `create()`: inserts the token unless it exists; a failing insert throws (applied or not). */
  const claimToken = async (pool: Pool, minuteKey: string, token: number, now: number) => {
    await roundTrip();
    const id = `${pool.uid}_${minuteKey}_${token}${poolSuffix(pool.keySource)}`;
    if (data.tokens.has(id)) return "exists" as const;
    data.tokens.set(id, {
      uid: pool.uid,
      keySource: pool.keySource,
      window: minuteKey,
      token,
      claimedAt: now,
      expireAt: retentionExpiry(TOKEN_RETENTION, now),
    });
    return "created" as const;
  };

  return {
    async acquire({ uid, now, limits, keySource }): Promise<QuotaDecision> {
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
    },

    async record({ uid, now, keySource, inputTokens, outputTokens, cost }) {
      const pool = { uid, keySource };
      const keys = windowKeys(now);
      const fields = { inputTokens, outputTokens, cost };
      await Promise.all([
        bump(pool, "day", keys.day, fields, now),
        bump(pool, "month", keys.month, fields, now),
      ]);
    },

    async usage({ uid, now, keySource }) {
      const pool = { uid, keySource };
      const keys = windowKeys(now);
      const [minute, day, month] = await Promise.all([
        readUsage(pool, "minute", keys.minute),
        readUsage(pool, "day", keys.day),
        readUsage(pool, "month", keys.month),
      ]);
      return { minute, day, month };
    },
  };
}
