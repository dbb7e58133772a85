import { type EngagementRows, mergeEngagement } from "@/core/engagement";
import { type DerivedRates, deriveRates, type MetricsFigures, sumFigures } from "@/core/metrics";
import { DAY_MS, dayKey, dayStartOf, HOUR_MS, hourKey, hourStartOf } from "@/core/metrics-hours";
import { MAX_MODELS_SHOWN, OTHER_MODELS, withBoundedModels, withFoldedModels } from "@/core/metrics-llm";
import {
  type MetricsSnapshot,
  snapshotForUserFigures,
  type UserFigures,
  userFigures,
} from "@/core/metrics-snapshot";
import type { DailyMetrics, EngagementDay, HourlyMetrics, MetricsReader } from "./roll-up-metrics";

/** The ranges `GET /api/admin/metrics` and the dashboard show. */
export const METRICS_RANGES = ["24h", "14d"] as const;
export type MetricsRange = (typeof METRICS_RANGES)[number];

/** Days of sent messages the engagement tables cover (today's so far included). */
export const ENGAGEMENT_DAYS = 14;

export interface MetricsBucket {
  /** Start of the UTC hour or day. */
  start: number;
  key: string;
  /** Null when nothing is rolled up for it yet (the last hour or two, or an outage). */
  figures: MetricsFigures | null;
  rates: DerivedRates | null;
  /** Hourly documents summed into this bucket (24 for a whole day). */
  hours: number;
}

export interface MetricsOverview {
  range: MetricsRange;
  bucket: "hour" | "day";
  now: number;
  series: MetricsBucket[];
  totals: { figures: MetricsFigures; rates: DerivedRates };
  /** The latest rollup's snapshot of users and the outbox's queue, or null before the first. */
  snapshot: MetricsSnapshot | null;
  /**
   * The users: enabled, active (enabled, not suspended), disabled, not looked at yet, as of the
   * engine's last look at each user (docs/operations.md "Metrics"), from the newest snapshot that
   * has them if at most a day older than `snapshot` (`asOf` says which); null before the first.
   */
  users: UserFigures | null;
  engagement: EngagementRows & { from: number; to: number; days: number; lastCountedAt: number | null };
}

/** A bucket's figures summed, its models named as stored (`namedAsRange` names them as the range). */
function bucket(start: number, key: string, parts: MetricsFigures[], hours: number): MetricsBucket {
  const figures = parts.length > 0 ? sumFigures(parts) : null;
  return { start, key, figures, rates: null, hours };
}

/**
 * A bucket whose models are the range's named ones, every other summed as `OTHER_MODELS`: a model
 * the range folds into "(other models)" is drawn there in every bucket, not missing where the
 * bucket alone would have named it.
 */
function namedAsRange(entry: MetricsBucket, named: ReadonlySet<string>): MetricsBucket {
  const figures = entry.figures ? withFoldedModels(entry.figures, named) : null;
  return { ...entry, figures, rates: figures ? deriveRates(figures, { hours: entry.hours }) : null };
}

interface RollupDocuments {
  hourly: HourlyMetrics[];
  daily: DailyMetrics[];
  engagementDays: EngagementDay[];
}

/** Reads what both ranges need at once: hours since yesterday's start, 13 past days, 14 days of engagement. */
async function readRollups(reader: MetricsReader, now: number): Promise<RollupDocuments> {
  const today = dayStartOf(now);
  const [hourly, daily, engagementDays] = await Promise.all([
    reader.readHours({ from: Math.min(today - DAY_MS, hourStartOf(now) - 24 * HOUR_MS), to: now + 1 }),
    reader.readDays({ from: today - 13 * DAY_MS, to: today }),
    reader.readEngagement({ from: today - (ENGAGEMENT_DAYS - 1) * DAY_MS, to: now + 1 }),
  ]);
  return { hourly, daily, engagementDays };
}

function overviewOf(range: MetricsRange, now: number, { hourly, daily, engagementDays }: RollupDocuments) {
  const today = dayStartOf(now);
  let series: MetricsBucket[];
  if (range === "24h") {
    series = Array.from({ length: 24 }, (_, index) => {
      const start = hourStartOf(now) - (24 - index) * HOUR_MS;
      const hour = hourly.find((candidate) => candidate.hourStart === start);
      return bucket(start, hourKey(start), hour ? [hour.figures] : [], hour ? 1 : 0);
    });
  } else {
    series = Array.from({ length: 14 }, (_, index) => {
      const start = today - (13 - index) * DAY_MS;
      const day = daily.find((candidate) => candidate.dayStart === start);
      if (day) return bucket(start, dayKey(start), [day.figures], day.hours);
      // Today, and yesterday until its daily document is written: from the hours so far.
      const hours = hourly.filter((hour) => dayStartOf(hour.hourStart) === start);
      return bucket(
        start,
        dayKey(start),
        hours.map((hour) => hour.figures),
        hours.length,
      );
    });
  }
  // A range of hours may name more models than one hour: it shows its top ones, and so do its buckets.
  const figures = withBoundedModels(
    sumFigures(series.flatMap((entry) => (entry.figures ? [entry.figures] : []))),
    MAX_MODELS_SHOWN,
  );
  const named = new Set(Object.keys(figures.llm.byModel).filter((model) => model !== OTHER_MODELS));
  series = series.map((entry) => namedAsRange(entry, named));
  const hours = series.reduce((total, entry) => total + entry.hours, 0);
  // Newest first: the hours, then the days (a day's snapshot is one of its hours').
  const snapshots = [
    ...hourly.map((hour) => hour.snapshot).reverse(),
    ...daily.map((day) => day.snapshot).reverse(),
  ];
  const snapshot = snapshots.find((candidate) => candidate !== null) ?? null;
  const usersSnapshot = snapshotForUserFigures(snapshots);
  return {
    range,
    bucket: range === "24h" ? ("hour" as const) : ("day" as const),
    now,
    series,
    totals: { figures, rates: deriveRates(figures, { hours }) },
    snapshot,
    users: usersSnapshot ? userFigures(usersSnapshot) : null,
    engagement: {
      from: today - (ENGAGEMENT_DAYS - 1) * DAY_MS,
      to: now,
      days: engagementDays.length,
      lastCountedAt: engagementDays.reduce<number | null>(
        (last, day) => (last === null || day.computedAt > last ? day.computedAt : last),
        null,
      ),
      ...mergeEngagement(engagementDays),
    },
  };
}

/**
 * The series of a range from the rollup documents only: 24 hourly documents (the 24 UTC hours
 * before the current one), or 14 days (past days from their daily document, or from their
 * hourly ones while the daily is not written yet; today from its hours so far), plus 14 days of
 * engagement. At most 48 + 13 + 14 documents read, whatever the number of users.
 */
export async function readMetricsOverview({
  reader,
  range,
  now,
}: {
  reader: MetricsReader;
  range: MetricsRange;
  now: number;
}): Promise<MetricsOverview> {
  return overviewOf(range, now, await readRollups(reader, now));
}

/** Both ranges for the dashboard, from one read of the rollup documents. */
export async function readDashboardMetrics({
  reader,
  now,
}: {
  reader: MetricsReader;
  now: number;
}): Promise<{ hours: MetricsOverview; days: MetricsOverview }> {
  const documents = await readRollups(reader, now);
  return { hours: overviewOf("24h", now, documents), days: overviewOf("14d", now, documents) };
}
