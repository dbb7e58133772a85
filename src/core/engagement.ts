/**
 * Engagement shares for the admin figures. Pure.
 */

/** `part` of `whole` as a whole percentage, or null when there is nothing to divide. */
export function sharePercent(part: number, whole: number): number | null {
  if (whole <= 0) return null;
  return Math.round((part / whole) * 100);
}

/** The periods the engagement page offers, in days. */
export const ENGAGEMENT_PERIOD_DAYS = [7, 30, 90] as const;
export type EngagementPeriodDays = (typeof ENGAGEMENT_PERIOD_DAYS)[number];

/** A `days` query parameter as one of the offered periods (30 by default). */
export function engagementPeriod(value: unknown): EngagementPeriodDays {
  const days = Number(value);
  return ENGAGEMENT_PERIOD_DAYS.find((period) => period === days) ?? 30;
}
