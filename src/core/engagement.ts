/**
 * Engagement shares for the admin figures. Pure.
 */

/** `part` of `whole` as a whole percentage, or null when there is nothing to divide. */
export function sharePercent(part: number, whole: number): number | null {
  if (whole <= 0) return null;
  return Math.round((part / whole) * 100);
}
