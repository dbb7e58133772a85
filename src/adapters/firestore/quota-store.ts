import "server-only";
import { FieldValue, type Firestore } from "firebase-admin/firestore";
import {
  checkBudget,
  overLimit,
  type QuotaDecision,
  type QuotaLimits,
  type QuotaWindow,
  windowKeys,
} from "@/core/quota";
import type { QuotaGate, UsageWindow } from "@/pipeline/processor-ports";
import { COLLECTIONS } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";

/**
 * Quotas on Firestore, without transactions (the emulator does not isolate them):
 * - the minute limit is exact: admission n of a minute is the `create()` of token
 *   `${uid}_${minute}_${n}`, n ≤ limit, and exactly one caller creates each token;
 * - day and month are counted with `FieldValue.increment` and checked after the increment; a
 *   request that finds the count over the limit takes its increment back. This can never admit
 *   more than the limit (the last admitted request counted every admitted one before it), and
 *   under a burst at the very edge may refuse one that would have fitted.
 */
export function createFirestoreQuotaStore(db: Firestore): QuotaGate {
  const usage = db.collection(COLLECTIONS.llmUsage);
  const tokens = db.collection(COLLECTIONS.llmQuotaTokens);
  const usageRef = (uid: string, window: QuotaWindow, key: string) => usage.doc(`${uid}_${window}_${key}`);
  const readUsage = async (uid: string, window: QuotaWindow, key: string): Promise<UsageWindow> => {
    const data = (await usageRef(uid, window, key).get()).data() ?? {};
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
  const bump = (uid: string, window: QuotaWindow, key: string, fields: Record<string, number>, now: number) =>
    usageRef(uid, window, key).set(
      {
        uid,
        window,
        key,
        updatedAt: now,
        ...Object.fromEntries(
          Object.entries(fields).map(([field, delta]) => [field, FieldValue.increment(delta)]),
        ),
      },
      { merge: true },
    );

  return {
    acquire: ({ uid, now, limits }) =>
      firestoreCall("check quota", async (): Promise<QuotaDecision> => {
        const keys = windowKeys(now);
        const [minute, month] = await Promise.all([
          readUsage(uid, "minute", keys.minute),
          readUsage(uid, "month", keys.month),
        ]);
        const budget = checkBudget({ monthCostUsd: month.cost, limits, now });
        if (!budget.allowed) return budget;

        let admitted = false;
        for (let token = minute.requests + 1; token <= limits.perMinute && !admitted; token += 1) {
          const outcome = await createOnce("claim quota token", () =>
            tokens
              .doc(`${uid}_${keys.minute}_${token}`)
              .create({ uid, window: keys.minute, token, claimedAt: now }),
          );
          admitted = outcome === "created";
        }
        if (!admitted) return overLimit("minute", limits.perMinute, now);
        await bump(uid, "minute", keys.minute, { requests: 1 }, now);

        await Promise.all([
          bump(uid, "day", keys.day, { requests: 1 }, now),
          bump(uid, "month", keys.month, { requests: 1 }, now),
        ]);
        const [day, monthAfter] = await Promise.all([
          readUsage(uid, "day", keys.day),
          readUsage(uid, "month", keys.month),
        ]);
        const over =
          day.requests > limits.perDay
            ? overLimit("day", limits.perDay, now)
            : monthAfter.requests > limits.perMonth
              ? overLimit("month", limits.perMonth, now)
              : null;
        if (over) {
          await Promise.all([
            bump(uid, "day", keys.day, { requests: -1 }, now),
            bump(uid, "month", keys.month, { requests: -1 }, now),
          ]);
          return over;
        }
        return { allowed: true };
      }),

    record: ({ uid, now, inputTokens, outputTokens, cost }) =>
      firestoreCall("record usage", async () => {
        const keys = windowKeys(now);
        const fields = { inputTokens, outputTokens, cost };
        await Promise.all([
          bump(uid, "day", keys.day, fields, now),
          bump(uid, "month", keys.month, fields, now),
        ]);
      }),

    usage: ({ uid, now }) =>
      firestoreCall("read usage", async () => {
        const keys = windowKeys(now);
        const [minute, day, month] = await Promise.all([
          readUsage(uid, "minute", keys.minute),
          readUsage(uid, "day", keys.day),
          readUsage(uid, "month", keys.month),
        ]);
        return { minute, day, month };
      }),
  };
}

export type { QuotaLimits };
