import "server-only";
import { FieldValue, type Firestore, Timestamp } from "firebase-admin/firestore";
import {
  checkBudget,
  overLimit,
  type QuotaDecision,
  type QuotaLimits,
  type QuotaWindow,
  windowKeys,
} from "@/core/quota";
import { retentionExpiry, TTL_FIELD, ttlRetentionRule } from "@/core/retention";
import type { LlmCallRecord, QuotaGate, UsageWindow } from "@/pipeline/processor-ports";
import { COLLECTIONS } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";

/**
 * Quotas on Firestore, without transactions (the emulator does not isolate them):
 * - calls on a user's own key and on the default key are counted apart: the default key's
 *   documents keep the plain ids, the own key's carry the suffix `_ownkey` (an id ending in a
 *   window key's digits can never equal one ending in `_ownkey`);
 * - every document carries `expireAt` for the Firestore TTL policy (core/retention.ts);
 * - the minute limit is exact: admission n of a minute is the `create()` of token
 *   `${uid}_${minute}_${n}`, n ≤ limit, and exactly one caller creates each token;
 * - day and month are counted with `FieldValue.increment` and checked after the increment; a
 *   request that finds the count over the limit takes its increment back. This can never admit
 *   more than the limit (the last admitted request counted every admitted one before it), and
 *   under a burst at the very edge may refuse some that would have fitted (each refused request's
 *   increment is seen by the others until it is taken back); one user's runs are serialised by the
 *   slot lease, so such bursts are rare.
 */
type KeySource = LlmCallRecord["keySource"];
interface Pool {
  uid: string;
  keySource: KeySource;
}

const poolSuffix = (keySource: KeySource) => (keySource === "user" ? "_ownkey" : "");

const TOKEN_RETENTION = ttlRetentionRule("quotaTokens");
const USAGE_RETENTION = {
  minute: ttlRetentionRule("minuteUsage"),
  day: ttlRetentionRule("dayUsage"),
  month: ttlRetentionRule("monthUsage"),
} satisfies Record<QuotaWindow, unknown>;

export function createFirestoreQuotaStore(db: Firestore): QuotaGate {
  const usage = db.collection(COLLECTIONS.llmUsage);
  const tokens = db.collection(COLLECTIONS.llmQuotaTokens);
  const usageRef = (pool: Pool, window: QuotaWindow, key: string) =>
    usage.doc(`${pool.uid}_${window}_${key}${poolSuffix(pool.keySource)}`);
  const readUsage = async (pool: Pool, window: QuotaWindow, key: string): Promise<UsageWindow> => {
    const data = (await usageRef(pool, window, key).get()).data() ?? {};
    const number = (field: string) => (typeof data[field] === "number" ? (data[field] as number) : 0);
    return {
      window,
      key,
      requests: number("requests"),
      inputTokens: number("inputTokens"),
      outputTokens: number("outputTokens"),
      cost: number("cost"),
    };
  };
  const bump = (pool: Pool, window: QuotaWindow, key: string, fields: Record<string, number>, now: number) =>
    usageRef(pool, window, key).set(
      {
        uid: pool.uid,
        keySource: pool.keySource,
        window,
        key,
        updatedAt: now,
        [TTL_FIELD]: Timestamp.fromMillis(retentionExpiry(USAGE_RETENTION[window], now)),
        ...Object.fromEntries(
          Object.entries(fields).map(([field, delta]) => [field, FieldValue.increment(delta)]),
        ),
      },
      { merge: true },
    );

  return {
    acquire: ({ uid, now, limits, keySource }) =>
      firestoreCall("check quota", async (): Promise<QuotaDecision> => {
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
          const outcome = await createOnce("claim quota token", () =>
            tokens.doc(`${uid}_${keys.minute}_${token}${poolSuffix(keySource)}`).create({
              uid,
              keySource,
              window: keys.minute,
              token,
              claimedAt: now,
              [TTL_FIELD]: Timestamp.fromMillis(retentionExpiry(TOKEN_RETENTION, now)),
            }),
          );
          admitted = outcome === "created";
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
      firestoreCall("record usage", async () => {
        const pool = { uid, keySource };
        const keys = windowKeys(now);
        const fields = { inputTokens, outputTokens, cost };
        await Promise.all([
          bump(pool, "day", keys.day, fields, now),
          bump(pool, "month", keys.month, fields, now),
        ]);
      }),

    usage: ({ uid, now, keySource }) =>
      firestoreCall("read usage", async () => {
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

export type { QuotaLimits };
