import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import type { z } from "zod";
import { dayKey, hourKey } from "@/core/metrics-hours";
import type { MetricsReader, MetricsRollupStore } from "@/pipeline/roll-up-metrics";
import { COLLECTIONS } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";
import { createFirestoreMetricsCounts, inRange } from "./metrics-counts";
import { dailySchema, engagementSchema, hourlySchema } from "./metrics-documents";

/**
 * The metrics rollup's store on Firestore: the counts of `metrics-counts.ts` (an hour, the
 * snapshot, an engagement day), and the metrics documents themselves (`metricsHourly`,
 * `metricsDaily`, `metricsEngagement`): which hours and days exist, writing each once with
 * `create()`, and reading a range back in order (parsed by `metrics-documents.ts`).
 */
export function createFirestoreMetricsStore(
  db: Firestore,
  {
    promptVariants = [],
  }: {
    /**
     * The running experiment's variant keys (core/prompt-experiments.ts `experimentVariantKeys`):
     * each hour and engagement day is counted per variant too. Empty: no experiment, no counts.
     */
    promptVariants?: readonly string[];
  } = {},
): MetricsRollupStore & MetricsReader {
  const hourly = db.collection(COLLECTIONS.metricsHourly);
  const daily = db.collection(COLLECTIONS.metricsDaily);
  const engagement = db.collection(COLLECTIONS.metricsEngagement);

  /** The documents of a time range in order; one that does not parse is left out, so a page never fails on it. */
  const readRange = async <Row>(
    collection: typeof hourly,
    field: string,
    schema: z.ZodType<Row>,
    from: number,
    to: number,
  ): Promise<Row[]> => {
    const snapshot = await inRange(collection, field, from, to).orderBy(field).get();
    return snapshot.docs.flatMap((document) => {
      const parsed = schema.safeParse(document.data());
      return parsed.success ? [parsed.data] : [];
    });
  };

  const keysBetween = async (collection: typeof hourly, field: string, from: number, to: number) => {
    const snapshot = await inRange(collection, field, from, to).select(field).get();
    return new Set(snapshot.docs.map((document) => document.id));
  };

  return {
    ...createFirestoreMetricsCounts(db, { promptVariants }),

    existingHours: ({ from, to }) =>
      firestoreCall("list metrics hours", () => keysBetween(hourly, "hourStart", from, to)),

    // create(): an hour is written once; a concurrent rollup that counted it too finds it there.
    createHour: (metrics) =>
      createOnce("create metrics hour", () => hourly.doc(hourKey(metrics.hourStart)).create(metrics)),

    readHours: ({ from, to }) =>
      firestoreCall("read metrics hours", () => readRange(hourly, "hourStart", hourlySchema, from, to)),

    existingDays: ({ from, to }) =>
      firestoreCall("list metrics days", () => keysBetween(daily, "dayStart", from, to)),

    createDay: (metrics) =>
      createOnce("create metrics day", () => daily.doc(dayKey(metrics.dayStart)).create(metrics)),

    readDays: ({ from, to }) =>
      firestoreCall("read metrics days", () => readRange(daily, "dayStart", dailySchema, from, to)),

    readEngagement: ({ from, to }) =>
      firestoreCall("read engagement days", () =>
        readRange(engagement, "dayStart", engagementSchema, from, to),
      ),

    // Absolute counts, so a concurrent or repeated count overwrites with the same or newer figures.
    saveEngagement: (day) =>
      firestoreCall("save engagement day", async () => {
        await engagement.doc(dayKey(day.dayStart)).set(day);
      }),
  };
}
