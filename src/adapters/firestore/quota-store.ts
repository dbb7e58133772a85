import "server-only";
import { FieldValue, type Firestore, Timestamp } from "firebase-admin/firestore";
import type { QuotaLimits, QuotaWindow } from "@/core/quota";
import { retentionExpiry, TTL_FIELD } from "@/core/retention";
import type { QuotaGate, UsageWindow } from "@/pipeline/processor-ports";
import {
  createQuotaGate,
  parseRunUsage,
  QUOTA_TOKEN_RETENTION,
  QUOTA_USAGE_RETENTION,
  type QuotaPool,
  quotaPoolSuffix,
  type RunUsage,
  runDayField,
  runMinuteFields,
  type UsageCounter,
} from "../quota-gate";
import { COLLECTIONS } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";

/**
 * Quotas on Firestore, without transactions (the emulator does not isolate them): the gate of
 * adapters/quota-gate.ts over `llmUsage` counters (`FieldValue.increment`) and `llmQuotaTokens`
 * minute tokens (`create()`). The default key's documents keep the plain ids, the own key's carry
 * the suffix `_ownkey` (an id ending in a window key's digits can never equal one ending in
 * `_ownkey`); every document carries `expireAt` for the Firestore TTL policy (core/retention.ts).
 */
export function createFirestoreQuotaStore(db: Firestore): QuotaGate {
  const usage = db.collection(COLLECTIONS.llmUsage);
  const tokens = db.collection(COLLECTIONS.llmQuotaTokens);
  const usageRef = (pool: QuotaPool, window: QuotaWindow, key: string) =>
    usage.doc(`${pool.uid}_${window}_${key}${quotaPoolSuffix(pool.keySource)}`);

  return createQuotaGate(
    {
      async readUsage(pool, window, key): Promise<UsageWindow> {
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
      },

      async bump(pool, window, key, fields, now) {
        await usageRef(pool, window, key).set(
          {
            uid: pool.uid,
            keySource: pool.keySource,
            window,
            key,
            updatedAt: now,
            [TTL_FIELD]: Timestamp.fromMillis(retentionExpiry(QUOTA_USAGE_RETENTION[window], now)),
            ...Object.fromEntries(
              Object.entries(fields).map(([field, delta]) => [field, FieldValue.increment(delta)]),
            ),
          },
          { merge: true },
        );
      },

      async readRunUsage(pool, monthKey): Promise<RunUsage> {
        return parseRunUsage(monthKey, (await usageRef(pool, "month", monthKey).get()).data() ?? {});
      },

      async bumpRun(pool, monthKey, { day, minute, minuteRequests, fields }, now) {
        const increments = Object.entries(fields) as [UsageCounter, number][];
        const minuteField = runMinuteFields(minute);
        // One merge write: the month's counters and the day's as increments (concurrent runs add
        // up), the minute's count as the value the run computed (it replaces an earlier day's).
        await usageRef(pool, "month", monthKey).set(
          {
            uid: pool.uid,
            keySource: pool.keySource,
            window: "month",
            key: monthKey,
            updatedAt: now,
            [TTL_FIELD]: Timestamp.fromMillis(retentionExpiry(QUOTA_USAGE_RETENTION.month, now)),
            ...Object.fromEntries(increments.map(([field, delta]) => [field, FieldValue.increment(delta)])),
            ...Object.fromEntries(
              increments.map(([field, delta]) => [runDayField(day, field), FieldValue.increment(delta)]),
            ),
            [minuteField.requests]: minuteRequests,
            [minuteField.day]: day,
          },
          { merge: true },
        );
      },

      claimToken: (pool, minuteKey, token, now) =>
        createOnce("claim quota token", () =>
          tokens.doc(`${pool.uid}_${minuteKey}_${token}${quotaPoolSuffix(pool.keySource)}`).create({
            uid: pool.uid,
            keySource: pool.keySource,
            window: minuteKey,
            token,
            claimedAt: now,
            [TTL_FIELD]: Timestamp.fromMillis(retentionExpiry(QUOTA_TOKEN_RETENTION, now)),
          }),
        ),
    },
    firestoreCall,
  );
}

export type { QuotaLimits };
