import "server-only";
import type { Firestore, Query } from "firebase-admin/firestore";
import { z } from "zod";
import {
  ALERT_CONDITIONS,
  ALERT_THRESHOLDS,
  type AlertFigures,
  type AlertRecord,
  EMPTY_ALERT_MEMORY,
  type Reading,
} from "@/core/alerts";
import { EVENT_TYPES } from "@/core/events";
import { minuteStartOf } from "@/core/llm-ceiling";
import { HOUR_MS } from "@/core/metrics-hours";
import type { AlertSignals, AlertStore } from "@/pipeline/alert-ports";
import { countMatching } from "./batched-delete";
import { COLLECTIONS } from "./collections";
import { createOnce, isAlreadyExists } from "./create-once";
import { firestoreCall } from "./errors";
import { readLatestSchedulerRun } from "./liveness-store";
import { readLlmBreaker } from "./llm-breaker";
import { createFirestoreLlmCeiling } from "./llm-ceiling";

const MEMORY_DOC = "evaluation";
/** Open alerts read at most: one per condition, a few more if evaluators crossed an hour's turn. */
const MAX_OPEN_ALERTS = 50;
const ATTEMPT_STATUSES = ["sent", "approved", "rejected", "failed"] as const;

const alertSchema = z.object({
  id: z.string(),
  condition: z.enum(ALERT_CONDITIONS),
  status: z.enum(["open", "resolved"]).catch("open"),
  firedAt: z.number().catch(0),
  summary: z.string().catch(""),
  resolvedAt: z.number().nullable().catch(null),
  reopenedAt: z.number().nullable().catch(null),
});

const memorySchema = z
  .object({
    firstEvaluatedAt: z.number().nullable().catch(null),
    deadLetters: z.number().nullable().catch(null),
    deadLettersGrewAt: z.number().nullable().catch(null),
    deadLettersGrewBy: z.number().catch(0),
    undrained: z
      .object({ lastChainId: z.string().nullable().catch(null), streak: z.number().int().min(0).catch(0) })
      .catch(EMPTY_ALERT_MEMORY.undrained),
  })
  .catch(EMPTY_ALERT_MEMORY);

function parseAlerts(documents: { id: string; data(): unknown }[]): AlertRecord[] {
  return documents.flatMap((document) => {
    const parsed = alertSchema.safeParse({ id: document.id, ...(document.data() as object) });
    return parsed.success ? [parsed.data] : [];
  });
}

/** The alerts and the evaluations' memory on Firestore (`alerts`, `alertState/evaluation`). */
export function createFirestoreAlertStore(db: Firestore): AlertStore {
  const alerts = db.collection(COLLECTIONS.alerts);
  const events = db.collection(COLLECTIONS.events);
  const memory = db.collection(COLLECTIONS.alertState).doc(MEMORY_DOC);

  return {
    readOpenAlerts: () =>
      firestoreCall("read open alerts", async () =>
        parseAlerts((await alerts.where("status", "==", "open").limit(MAX_OPEN_ALERTS).get()).docs),
      ),

    readMemory: () =>
      firestoreCall("read alert memory", async () => {
        const snapshot = await memory.get();
        return snapshot.exists ? memorySchema.parse(snapshot.data()) : EMPTY_ALERT_MEMORY;
      }),

    // Merged: a concurrent evaluator's other fields stand (each writes only what it changed).
    saveMemory: (patch) =>
      firestoreCall("save alert memory", async () => {
        await memory.set(patch, { merge: true });
      }),

    // The alert's create() first: on the emulator a batch applies its writes up to a failing
    // one, so a taken id writes nothing there either.
    fireAlert: ({ alert, notification }) =>
      createOnce("fire alert", () => {
        const batch = db.batch();
        batch.create(alerts.doc(alert.id), alert);
        if (notification) batch.create(events.doc(notification.id), notification);
        return batch.commit();
      }),

    reopenAlert: ({ id, summary, now, notification }) =>
      firestoreCall("reopen alert", async () => {
        const snapshot = await alerts.doc(id).get();
        if (snapshot.get("status") !== "resolved") return false;
        const batch = db.batch();
        // The notification's create() first: of two evaluators reopening at once, one posts.
        if (notification) batch.create(events.doc(notification.id), notification);
        batch.update(alerts.doc(id), { status: "open", resolvedAt: null, reopenedAt: now, summary });
        try {
          await batch.commit();
          return true;
        } catch (error) {
          if (isAlreadyExists(error)) return false;
          throw error;
        }
      }),

    resolveAlert: ({ id, now, notification }) =>
      firestoreCall("resolve alert", async () => {
        const resolution = { status: "resolved", resolvedAt: now };
        if (notification) {
          try {
            const batch = db.batch();
            batch.create(events.doc(notification.id), notification);
            batch.update(alerts.doc(id), resolution);
            await batch.commit();
            return;
          } catch (error) {
            // Posted by a concurrent evaluator that resolved it too: resolve it without posting again.
            if (!isAlreadyExists(error)) throw error;
          }
        }
        await alerts.doc(id).update(resolution);
      }),

    listAlerts: ({ limit }) =>
      firestoreCall("list alerts", async () =>
        parseAlerts((await alerts.orderBy("firedAt", "desc").limit(limit).get()).docs),
      ),
  };
}

async function reading<Value>(read: () => Promise<Value>): Promise<Reading<Value>> {
  try {
    return { ok: true, value: await read() };
  } catch {
    return { ok: false };
  }
}

/**
 * The figures alerts rest on, each read on its own (a failure leaves its conditions unknown):
 * three count() aggregations over the last hour's attempts (all, failed, acute risk), the dead
 * letters' count() less the alert posts' own, the oldest ready event (one document), the breaker and the newest run
 * summary (one document each), and the ceiling's last minutes (one document per shard per
 * minute). Nothing grows with users.
 */
export function createFirestoreAlertSignals(
  db: Firestore,
  { llmCeiling }: { llmCeiling: { callsPerMinute: number } | null },
): AlertSignals {
  const messages = db.collection(COLLECTIONS.coachingMessages);
  const events = db.collection(COLLECTIONS.events);
  const lastHour = (query: Query, now: number) =>
    query.where("createdAt", ">=", now - HOUR_MS).where("createdAt", "<=", now);

  const read = async (now: number): Promise<AlertFigures> => {
    const [
      attempts,
      failed,
      deadLetters,
      oldestReadyAt,
      breakerOpen,
      latestSchedulerRunAt,
      ceiling,
      acuteRiskLastHour,
    ] = await Promise.all([
      reading(() => countMatching(lastHour(messages.where("status", "in", [...ATTEMPT_STATUSES]), now))),
      reading(() => countMatching(lastHour(messages.where("status", "==", "failed"), now))),
      reading(async () => {
        // The alert posts' own dead letters are left out: a revoked or failing webhook
        // dead-letters every post, and counting those would fire dead_letters_growing, whose post
        // fails in turn, for ever. Two count() aggregations (the difference), so letters of any
        // version count, with no flag to write.
        const letters = db.collection(COLLECTIONS.eventDeadLetters);
        const [all, alertPosts] = await Promise.all([
          countMatching(letters),
          countMatching(letters.where("event_type", "==", EVENT_TYPES.alertNotification)),
        ]);
        return Math.max(0, all - alertPosts);
      }),
      reading(async () => {
        // The ready query's own shape (index status, next_attempt_at): how long the oldest ready
        // event has waited, not how old it is — a retry's backoff or a fresh replay is no backlog.
        const oldest = await events
          .where("status", "==", "pending")
          .where("next_attempt_at", "<=", now)
          .orderBy("next_attempt_at")
          .limit(1)
          .select("next_attempt_at")
          .get();
        const readyAt = oldest.docs[0]?.get("next_attempt_at");
        return typeof readyAt === "number" ? readyAt : null;
      }),
      reading(async () => (await readLlmBreaker(db))?.state === "open"),
      reading(async () => (await readLatestSchedulerRun(db))?.startedAt ?? null),
      reading(async () => {
        if (!llmCeiling) return null;
        const to = minuteStartOf(now);
        const minutes = await createFirestoreLlmCeiling(db, llmCeiling).ceilingUsage({
          from: to - ALERT_THRESHOLDS.ceilingWindowMinutes * 60_000,
          to,
        });
        return minutes.map(({ calls, limit }) => ({ calls, limit }));
      }),
      reading(() => countMatching(lastHour(messages.where("riskLevel", "==", "acute"), now))),
    ]);
    return {
      lastHour:
        attempts.ok && failed.ok
          ? { ok: true, value: { attempts: attempts.value, failed: failed.value } }
          : { ok: false },
      deadLetters,
      oldestReadyAt,
      breakerOpen,
      latestSchedulerRunAt,
      ceilingMinutes: ceiling,
      acuteRiskLastHour,
    };
  };

  return { read };
}
