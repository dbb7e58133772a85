import "server-only";
import type { Firestore, Query, WriteBatch } from "firebase-admin/firestore";
import { z } from "zod";
import type { AlertRecord } from "@/core/alert-lifecycle";
import {
  ALERT_CONDITIONS,
  ALERT_THRESHOLDS,
  type AlertCondition,
  type AlertFigures,
  EMPTY_ALERT_MEMORY,
  type Reading,
} from "@/core/alerts";
import { EVENT_TYPES, type EventRecord } from "@/core/events";
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
import { countsFailedSchema } from "./metrics-documents";

const MEMORY_DOC = "evaluation";
/** Open alerts read at most: one per condition, a few more if evaluators crossed an hour's turn. */
const MAX_OPEN_ALERTS = 50;
const ATTEMPT_STATUSES = ["sent", "approved", "rejected", "failed"] as const;
/** A claim younger than this is never taken as stale: an evaluation's writes take a second or two. */
const STALE_CLAIM_AFTER_MS = 5 * 60_000;

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

/**
 * The alerts and the evaluations' memory on Firestore (`alerts`, `alertState/evaluation`), and
 * each condition's open claim (`alertOpen/{condition}`: the id of its one open alert). An alert's
 * id holds its hour, so two evaluations either side of an hour's turn (10:59:59 and 11:00:00)
 * that both read no open alert would fire two; the claim, created with the alert and deleted
 * when it resolves, lets one of them open it.
 */
export function createFirestoreAlertStore(db: Firestore): AlertStore {
  const alerts = db.collection(COLLECTIONS.alerts);
  const events = db.collection(COLLECTIONS.events);
  const memory = db.collection(COLLECTIONS.alertState).doc(MEMORY_DOC);
  const openClaims = db.collection(COLLECTIONS.alertOpen);
  const claimOf = (condition: AlertCondition) => openClaims.doc(condition);

  /** The alert holding the condition's open claim, or null when none does. */
  const claimHolder = async (condition: AlertCondition): Promise<string | null> => {
    const holder = (await claimOf(condition).get()).get("alertId");
    return typeof holder === "string" ? holder : null;
  };

  /**
   * Lets go of a claim whose alert is not open (resolved, or deleted by the cleanup) and that is
   * over `STALE_CLAIM_AFTER_MS` old: left by an evaluator that died between the claim and its
   * batch, it would keep the condition from ever firing again. (A younger one may be a reopening
   * between its claim and its batch.) Two evaluators may both let go; the next create() lets one in.
   */
  const releaseStaleClaim = async (
    condition: AlertCondition,
    holder: string,
    now: number,
  ): Promise<boolean> => {
    const claimedAt = (await claimOf(condition).get()).get("claimedAt");
    if (typeof claimedAt === "number" && now - claimedAt < STALE_CLAIM_AFTER_MS) return false;
    if ((await alerts.doc(holder).get()).get("status") === "open") return false;
    await claimOf(condition).delete();
    return true;
  };

  // The claim's create() first, then the alert's: on the emulator a batch applies its writes up
  // to a failing one, so a claim taken writes nothing there either. (An alert id taken, after a
  // free claim, leaves the claim there naming this very alert: its reopening takes it as its own.)
  const createAlert = ({ alert, notification }: { alert: AlertRecord; notification: EventRecord | null }) =>
    createOnce("fire alert", () => {
      const batch = db.batch();
      batch.create(claimOf(alert.condition), { alertId: alert.id, claimedAt: alert.firedAt });
      batch.create(alerts.doc(alert.id), alert);
      if (notification) batch.create(events.doc(notification.id), notification);
      return batch.commit();
    });

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

    fireAlert: (input) =>
      firestoreCall("fire alert", async () => {
        const outcome = await createAlert(input);
        if (outcome === "created") return outcome;
        const { condition, id } = input.alert;
        const holder = await claimHolder(condition);
        // No claim, or this alert's: its id was taken (it fired before within the hour).
        if (holder === null || holder === id) return "exists";
        return (await releaseStaleClaim(condition, holder, input.alert.firedAt))
          ? createAlert(input)
          : "exists";
      }),

    reopenAlert: ({ id, condition, summary, now, notification }) =>
      firestoreCall("reopen alert", async () => {
        const snapshot = await alerts.doc(id).get();
        if (snapshot.get("status") !== "resolved") return false;
        // The condition's claim: free, or this alert's already (see `createAlert`); another
        // alert's open one stands (an evaluation the other side of the hour's turn fired it).
        const claimed = await createOnce("claim reopened alert", () =>
          claimOf(condition).create({ alertId: id, claimedAt: now }),
        );
        if (claimed === "exists" && (await claimHolder(condition)) !== id) return false;
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

    resolveAlert: ({ id, condition, now, notification }) =>
      firestoreCall("resolve alert", async () => {
        // The claim is let go with the resolution, if this alert holds it (an alert opened before
        // claims existed holds none).
        const holdsClaim = (await claimHolder(condition)) === id;
        const resolve = (batch: WriteBatch) => {
          batch.update(alerts.doc(id), { status: "resolved", resolvedAt: now });
          if (holdsClaim) batch.delete(claimOf(condition));
          return batch;
        };
        if (notification) {
          try {
            const batch = db.batch();
            batch.create(events.doc(notification.id), notification);
            await resolve(batch).commit();
            return;
          } catch (error) {
            // Posted by a concurrent evaluator that resolved it too: resolve it without posting again.
            if (!isAlreadyExists(error)) throw error;
          }
        }
        await resolve(db.batch()).commit();
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
 * summary (one document each), the ceiling's last minutes (one document per shard per
 * minute), and the newest rolled-up hour's marker (one document). Nothing grows with users.
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
      newestMetricsHour,
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
      reading(async () => {
        // Its marker only: an hour written before the marker reads as nothing failed. Started by
        // now: a start edited by hand into the future (or Infinity) would otherwise decide for ever.
        const newest = await db
          .collection(COLLECTIONS.metricsHourly)
          .where("hourStart", "<=", now)
          .orderBy("hourStart", "desc")
          .limit(1)
          .select("hourStart", "countsFailed")
          .get();
        const hour = newest.docs[0];
        const hourStart = hour?.get("hourStart");
        if (!hour || typeof hourStart !== "number" || !Number.isFinite(hourStart)) return null;
        return { hourStart, countsFailed: countsFailedSchema.parse(hour.get("countsFailed")) };
      }),
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
      newestMetricsHour,
    };
  };

  return { read };
}
