/**
 * An in-memory twin of the Firestore quota store: the same gate (adapters/quota-gate.ts) over
 * plain shared data instead of Firestore documents. Every primitive that is a round trip on
 * Firestore yields here, so concurrent `acquire`s interleave between their reads, token claims and
 * increments as they do on Firestore, with the same edge behaviour. Minute tokens are
 * insert-if-absent, like `create()`. It passes the same contract tests as the Firestore store
 * (test/adapters/quota-store.contract.ts).
 */
import type { QuotaWindow } from "@/core/quota";
import { retentionExpiry } from "@/core/retention";
import type { QuotaGate, UsageWindow } from "@/pipeline/processor-ports";
import {
  createQuotaGate,
  type KeySource,
  parseRunUsage,
  QUOTA_TOKEN_RETENTION,
  QUOTA_USAGE_RETENTION,
  type QuotaCounters,
  type QuotaPool,
  quotaPoolSuffix,
  type RunUsage,
  runDayField,
  runMinuteFields,
  type UsageCounter,
} from "../quota-gate";

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
  /** On a month document: the runs' `runDay_…` and `runMinute_…` counts (adapters/quota-gate.ts). */
  runFields?: Record<string, number>;
  /** …and the `runMinuteDay_…` fields: the day each minute's count is from. */
  runMinuteDays?: Record<string, string>;
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

/** One Firestore round trip: other calls run in between (a microtask, so fake timers never stall it). */
const roundTrip = () => Promise.resolve();

/**
 * The in-memory QuotaGate over `data`: the primitives the shared gate needs (read a counter,
 * increment it atomically, insert a minute token unless it exists).
 */
export function createInMemoryQuotaStore(data: InMemoryQuotaData): QuotaGate {
  type Pool = QuotaPool;
  const usageId = (pool: Pool, window: QuotaWindow, key: string) =>
    `${pool.uid}_${window}_${key}${quotaPoolSuffix(pool.keySource)}`;

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
    fields: Partial<Record<UsageCounter, number>>,
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
      expireAt: retentionExpiry(QUOTA_USAGE_RETENTION[window], now),
    };
    for (const [field, delta] of Object.entries(fields) as [UsageCounter, number][]) {
      next[field] = (stored?.[field] ?? 0) + delta;
    }
    data.usage.set(id, next);
  };

  /** `create()`: inserts the token unless it exists; a failing insert throws (applied or not). */
  const claimToken = async (pool: Pool, minuteKey: string, token: number, now: number) => {
    await roundTrip();
    const id = `${pool.uid}_${minuteKey}_${token}${quotaPoolSuffix(pool.keySource)}`;
    if (data.tokens.has(id)) return "exists" as const;
    data.tokens.set(id, {
      uid: pool.uid,
      keySource: pool.keySource,
      window: minuteKey,
      token,
      claimedAt: now,
      expireAt: retentionExpiry(QUOTA_TOKEN_RETENTION, now),
    });
    return "created" as const;
  };

  const readRunUsage = async (pool: Pool, monthKey: string): Promise<RunUsage> => {
    await roundTrip();
    const stored = data.usage.get(usageId(pool, "month", monthKey));
    return parseRunUsage(monthKey, { ...stored, ...stored?.runFields, ...stored?.runMinuteDays });
  };

  /** The merge write of the Firestore store: increments, and the stale minute fields deleted. */
  const bumpRun: QuotaCounters["bumpRun"] = async (
    pool,
    monthKey,
    { day, minute, minuteRequests, fields },
    now,
  ) => {
    await roundTrip();
    const id = usageId(pool, "month", monthKey);
    const stored = data.usage.get(id);
    const runFields = { ...stored?.runFields };
    const next: InMemoryUsageDocument = {
      ...stored,
      uid: pool.uid,
      keySource: pool.keySource,
      window: "month",
      key: monthKey,
      updatedAt: now,
      expireAt: retentionExpiry(QUOTA_USAGE_RETENTION.month, now),
    };
    for (const [field, delta] of Object.entries(fields) as [UsageCounter, number][]) {
      next[field] = (stored?.[field] ?? 0) + delta;
      const dayField = runDayField(day, field);
      runFields[dayField] = (runFields[dayField] ?? 0) + delta;
    }
    const minuteField = runMinuteFields(minute);
    runFields[minuteField.requests] = minuteRequests;
    data.usage.set(id, {
      ...next,
      runFields,
      runMinuteDays: { ...stored?.runMinuteDays, [minuteField.day]: day },
    });
  };

  return createQuotaGate({ readUsage, bump, claimToken, readRunUsage, bumpRun });
}
