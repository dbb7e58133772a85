import "server-only";
import type { Firestore, Query } from "firebase-admin/firestore";
import { z } from "zod";
import type { EngagementRows } from "@/core/engagement";
import { emptyFigures, type MetricsFigures, type VariantFigures } from "@/core/metrics";
import { DAY_MS, HOUR_MS } from "@/core/metrics-hours";
import { callsByModel, type SampledCall, withLlmEstimates } from "@/core/metrics-llm";
import type { MetricsSnapshot, UserMirrorCounts } from "@/core/metrics-snapshot";
import { USER_STATUSES } from "@/core/processing-state";
import type { MetricsRollupStore } from "@/pipeline/roll-up-metrics";
import { countMatching } from "./batched-delete";
import { COACHING_ENABLED_FIELD, COLLECTIONS } from "./collections";
import { engagementFigures } from "./engagement-store";
import { firestoreCall } from "./errors";
import { count } from "./metrics-documents";

/**
 * The LLM sample: the hour is cut into this many equal slices and at most `SAMPLE_PER_SLICE`
 * attempts are read from the start of each, so a busy hour costs at most 240 reads and its
 * sample still spans the whole hour; a quiet hour is read whole (exact figures).
 */
const SAMPLE_SLICES = 12;
const SAMPLE_PER_SLICE = 20;
/** Scheduler runs of one hour: the cron step, its continuations, manual runs. Bounded by the chain's steps. */
const MAX_RUNS_PER_HOUR = 1_000;
const ATTEMPT_STATUSES = ["sent", "approved", "rejected", "failed"] as const;

const llmCallSchema = z.object({
  model: z.string().catch("unknown"),
  ok: z.boolean().catch(false),
  durationMs: z.number().nonnegative().catch(0),
  cost: z.number().nullable().catch(null),
});
const sampledAttemptSchema = z.object({ llmCalls: z.array(llmCallSchema).catch([]) }).catch({ llmCalls: [] });

const runSchema = z.object({
  trigger: z.string().catch("unknown"),
  status: z.string().catch("unknown"),
  results: z
    .object({
      usersDue: count,
      jobsCreated: count,
      deferred: count,
      errors: count,
      hasMore: z.boolean().catch(false),
    })
    .partial()
    .nullable()
    .catch(null),
});

/** `query` narrowed to the documents whose `field` is in [`from`, `to`). */
export function inRange(query: Query, field: string, from: number, to: number): Query {
  return query.where(field, ">=", from).where(field, "<", to);
}

/**
 * What the metrics rollup counts on Firestore, from the documents the engine writes anyway: an
 * hour's figures (`countHour`), the snapshot and its counts by the enable flag's mirror (apart:
 * they need the newest composite index), an engagement day (`countEngagement`); the metrics
 * documents themselves are written and read in `metrics-store.ts`. Every figure of an hour is an
 * aggregation (`count()`, one read per 1,000 index entries) on a top-level field with a time
 * range, or a bounded read (the LLM sample, the hour's scheduler runs): the cost of an hour does
 * not grow with the number of users beyond the index entries counted. Time fields exempted from
 * single-field indexing (`createdAt`, `sentAt`, `updatedAt`, `processed_at`) are always queried
 * with an equality first, on the composite indexes the retention cleanup already uses.
 * `promptVariants`: the running experiment's variant keys (core/prompt-experiments.ts
 * `experimentVariantKeys`), each hour and engagement day is counted per variant too; empty, no
 * experiment, no counts.
 */
export function createFirestoreMetricsCounts(
  db: Firestore,
  { promptVariants }: { promptVariants: readonly string[] },
): Pick<MetricsRollupStore, "countHour" | "snapshot" | "countUsersByMirror" | "countEngagement"> {
  const messages = db.collection(COLLECTIONS.coachingMessages);

  const sampleCalls = async (from: number, to: number) => {
    const slice = (to - from) / SAMPLE_SLICES;
    const slices = await Promise.all(
      Array.from({ length: SAMPLE_SLICES }, (_, index) =>
        inRange(
          messages.where("status", "in", [...ATTEMPT_STATUSES]),
          "createdAt",
          from + Math.round(index * slice),
          from + Math.round((index + 1) * slice),
        )
          .orderBy("createdAt")
          .limit(SAMPLE_PER_SLICE)
          .select("llmCalls")
          .get(),
      ),
    );
    const attempts = slices.flatMap((snapshot) => snapshot.docs);
    const calls: SampledCall[] = attempts.flatMap(
      (attempt) => sampledAttemptSchema.parse(attempt.data()).llmCalls,
    );
    return { sampledMessages: attempts.length, byModel: callsByModel(calls) };
  };

  const schedulerFigures = async (from: number, to: number): Promise<MetricsFigures["scheduler"]> => {
    const runs = await inRange(db.collection(COLLECTIONS.schedulerRuns), "startedAt", from, to)
      .limit(MAX_RUNS_PER_HOUR)
      .select("trigger", "status", "results")
      .get();
    const figures = emptyFigures().scheduler;
    for (const document of runs.docs) {
      const run = runSchema.parse(document.data());
      figures.runs += 1;
      if (run.trigger === "cron") figures.cronTicks += 1;
      if (run.trigger === "continuation") figures.continuations += 1;
      if (run.status === "failed") figures.failedRuns += 1;
      figures.usersDue += run.results?.usersDue ?? 0;
      figures.dispatched += run.results?.jobsCreated ?? 0;
      figures.deferred += run.results?.deferred ?? 0;
      figures.errors += run.results?.errors ?? 0;
      if (run.results?.hasMore) figures.runsWithMore += 1;
    }
    return figures;
  };

  /**
   * One variant's attempts of an hour: 4 counts by status, and 10 by rating when it generated any
   * (a few dozen aggregation reads an hour per variant, whatever the number of users).
   */
  const variantFigures = async (variant: string, from: number, to: number): Promise<VariantFigures> => {
    const ofVariant = messages.where("promptVariant", "==", variant);
    const [sent = 0, approved = 0, rejected = 0, failed = 0] = await Promise.all(
      ATTEMPT_STATUSES.map((status) =>
        countMatching(inRange(ofVariant.where("status", "==", status), "createdAt", from, to)),
      ),
    );
    const ratings =
      sent + approved + rejected === 0
        ? Array.from({ length: 10 }, () => 0)
        : await Promise.all(
            Array.from({ length: 10 }, (_, index) =>
              countMatching(
                inRange(ofVariant.where("effectivenessRating", "==", index + 1), "createdAt", from, to),
              ),
            ),
          );
    return { sent, approved, rejected, failed, ratings };
  };

  const countVariants = async (from: number, to: number) =>
    Object.fromEntries(
      await Promise.all(
        promptVariants.map(async (variant) => [variant, await variantFigures(variant, from, to)] as const),
      ),
    );

  const countHour = async (hourStart: number): Promise<MetricsFigures> => {
    const from = hourStart;
    const to = hourStart + HOUR_MS;
    const [byStatus, delivered, slotsCompleted, llm, scheduler, processed, deadLettered, claims, variants] =
      await Promise.all([
        Promise.all(
          ATTEMPT_STATUSES.map((status) =>
            countMatching(inRange(messages.where("status", "==", status), "createdAt", from, to)),
          ),
        ),
        countMatching(inRange(messages.where("wasSent", "==", true), "sentAt", from, to)),
        countMatching(
          inRange(
            db.collection(COLLECTIONS.coachingSlots).where("status", "==", "completed"),
            "updatedAt",
            from,
            to,
          ),
        ),
        sampleCalls(from, to),
        schedulerFigures(from, to),
        countMatching(
          inRange(
            db.collection(COLLECTIONS.events).where("status", "==", "processed"),
            "processed_at",
            from,
            to,
          ),
        ),
        countMatching(inRange(db.collection(COLLECTIONS.eventDeadLetters), "created_at", from, to)),
        countMatching(inRange(db.collection(COLLECTIONS.eventLeases), "claimedAt", from, to)),
        promptVariants.length > 0 ? countVariants(from, to) : null,
      ]);
    const [sent = 0, approved = 0, rejected = 0, failed = 0] = byStatus;
    // The hour's LLM estimates scaled by its own sample, stored so that days and ranges sum them.
    return withLlmEstimates({
      messages: { sent, approved, rejected, failed, delivered },
      slotsCompleted,
      llm: { ...llm, estimatedCalls: 0, estimatedCostUsd: 0 },
      scheduler,
      outbox: { processed, deadLettered, claims },
      ...(variants ? { variants } : {}),
    });
  };

  return {
    countHour: (hourStart) => firestoreCall("count metrics hour", () => countHour(hourStart)),

    snapshot: (now) =>
      firestoreCall("count metrics snapshot", async (): Promise<MetricsSnapshot> => {
        const states = db.collection(COLLECTIONS.userProcessingState);
        const [usersTotal, byStatus, pendingEvents, deadLetters] = await Promise.all([
          countMatching(db.collection(COLLECTIONS.users)),
          Promise.all(USER_STATUSES.map((status) => countMatching(states.where("status", "==", status)))),
          countMatching(db.collection(COLLECTIONS.events).where("status", "==", "pending")),
          countMatching(db.collection(COLLECTIONS.eventDeadLetters)),
        ]);
        return {
          at: now,
          usersTotal,
          usersByStatus: Object.fromEntries(
            USER_STATUSES.map((status, index) => [status, byStatus[index] ?? 0]),
          ),
          pendingEvents,
          deadLetters,
        };
      }),

    countUsersByMirror: (now) =>
      firestoreCall("count users by the enable flag's mirror", async (): Promise<UserMirrorCounts> => {
        const users = db.collection(COLLECTIONS.users);
        // Enabled users by the engine's top-level mirror of the app's nested flag (an equality,
        // and a range on `suspendUntil` on its composite index): as of the engine's last look at
        // each user. Users it has not looked at since the mirror exists are in neither count.
        const enabled = users.where(COACHING_ENABLED_FIELD, "==", true);
        const [usersEnabled, usersEnabledSuspended, usersDisabled] = await Promise.all([
          countMatching(enabled),
          countMatching(enabled.where("suspendUntil", ">", now)),
          countMatching(users.where(COACHING_ENABLED_FIELD, "==", false)),
        ]);
        return { usersEnabled, usersEnabledSuspended, usersDisabled };
      }),

    countEngagement: async (dayStart): Promise<EngagementRows> => {
      const figures = await engagementFigures(db, {
        since: dayStart,
        until: dayStart + DAY_MS,
        variants: promptVariants,
      });
      return {
        byRating: figures.byRating,
        byType: figures.byType,
        ...(figures.byVariant ? { byVariant: figures.byVariant } : {}),
      };
    },
  };
}
