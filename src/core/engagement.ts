/**
 * Engagement of sent messages (deliveries, opens, clicks, feedback) for the admin figures: which
 * days' counts a metrics run takes again while they can still move, how days' counts merge, and
 * shares. Pure: `now` is passed in.
 */

import { sumRecord } from "./metrics";
import { DAY_MS, dayKey, dayStartOf, HOUR_MS, HOUR_SETTLED_AFTER_MS } from "./metrics-hours";

/** `part` of `whole` as a whole percentage, or null when there is nothing to divide. */
export function sharePercent(part: number, whole: number): number | null {
  if (whole <= 0) return null;
  return Math.round((part / whole) * 100);
}

/**
 * Engagement (opens, clicks, feedback) keeps arriving for days after a message is sent, so the
 * engagement of the messages sent on day D is counted again, as absolute counts (idempotent),
 * while it can still move: every hour on D and D+1, twice a day until D+7, and never after a
 * count taken 7 days after D ended (`final`).
 */
export const ENGAGEMENT_FINAL_AFTER_MS = 7 * DAY_MS;
/** How far back a run looks for engagement days never counted (the dashboard shows 14). */
export const ENGAGEMENT_BACKFILL_DAYS = 14;

/** How long a count of day `dayStart`'s engagement stands before it is counted again. */
export function engagementRefreshInterval({ dayStart, now }: { dayStart: number; now: number }): number {
  return now - dayStart < 2 * DAY_MS ? HOUR_MS - HOUR_SETTLED_AFTER_MS : 12 * HOUR_MS;
}

/** Whether a count taken at `computedAt` of day `dayStart`'s messages is the final one. */
export function engagementIsFinal({
  dayStart,
  computedAt,
}: {
  dayStart: number;
  computedAt: number;
}): boolean {
  return computedAt >= dayStart + DAY_MS + ENGAGEMENT_FINAL_AFTER_MS;
}

/**
 * The days (starts, newest first, at most `maxDays`) whose engagement a run counts now: never
 * counted (within the backfill window), or counted longer ago than their refresh interval and
 * not final.
 */
export function engagementDaysToCount({
  now,
  computedAt,
  maxDays,
}: {
  now: number;
  /** By day key: when the stored count was taken. */
  computedAt: ReadonlyMap<string, number>;
  maxDays: number;
}): number[] {
  const today = dayStartOf(now);
  const days: number[] = [];
  for (let index = 0; index <= ENGAGEMENT_BACKFILL_DAYS && days.length < maxDays; index += 1) {
    const dayStart = today - index * DAY_MS;
    const last = computedAt.get(dayKey(dayStart));
    const due =
      last === undefined ||
      (!engagementIsFinal({ dayStart, computedAt: last }) &&
        now - last >= engagementRefreshInterval({ dayStart, now }));
    if (due) days.push(dayStart);
  }
  return days;
}

/** The engagement counts of a group (a rating, a type) of sent messages. */
export interface EngagementTally {
  sent: number;
  delivered: number;
  opened: number;
  clicked: number;
  helpful: number;
  /** Messages the user gave feedback on at all (helpful or not). */
  rated: number;
  /** Messages a push service took for at least one of the user's browsers. */
  pushDelivered: number;
}

export interface EngagementRows {
  byRating: ({ rating: number } & EngagementTally)[];
  byType: ({ messageType: string } & EngagementTally)[];
  /** By prompt variant key (core/prompt-experiments.ts), while an experiment runs; absent otherwise. */
  byVariant?: ({ variant: string } & EngagementTally)[];
}

function mergeRows<Row extends EngagementTally, Key extends keyof Row>(
  rows: readonly (readonly Row[])[],
  key: Key,
): Row[] {
  const byKey = new Map<Row[Key], Row>();
  for (const row of rows.flat()) {
    const known = byKey.get(row[key]);
    byKey.set(row[key], known ? { ...known, ...sumRecord(pickTally(known), pickTally(row)) } : { ...row });
  }
  return [...byKey.values()];
}

function pickTally(row: EngagementTally): EngagementTally {
  const { sent, delivered, opened, clicked, helpful, rated, pushDelivered } = row;
  return { sent, delivered, opened, clicked, helpful, rated, pushDelivered };
}

/** The engagement of several days' messages together (per rating and per type, summed). */
export function mergeEngagement(days: readonly EngagementRows[]): EngagementRows {
  const variantDays = days.flatMap((day) => (day.byVariant ? [day.byVariant] : []));
  return {
    ...(variantDays.length > 0 ? { byVariant: mergeRows(variantDays, "variant") } : {}),
    byRating: mergeRows(
      days.map((day) => day.byRating),
      "rating",
    ).sort((left, right) => left.rating - right.rating),
    byType: mergeRows(
      days.map((day) => day.byType),
      "messageType",
    ),
  };
}
