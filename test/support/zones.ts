/**
 * Picks real IANA zones (the fixed-offset Etc/GMT family) whose local time at a given instant
 * sits well inside or well outside a preferred window, so route tests that run on the real
 * clock do not depend on the hour they run at.
 */
import { TIME_WINDOWS, type TimePreference } from "@/core/schedule";

/** Etc/GMT-N is UTC+N (the sign is inverted in the IANA names). */
function etcZone(offsetHours: number): string {
  if (offsetHours === 0) return "Etc/GMT";
  return offsetHours > 0 ? `Etc/GMT-${offsetHours}` : `Etc/GMT+${-offsetHours}`;
}

function zoneWithLocalHour(now: number, localHour: number): string {
  const utcHour = new Date(now).getUTCHours();
  let offset = (((localHour - utcHour) % 24) + 24) % 24;
  if (offset > 14) offset -= 24;
  return etcZone(offset);
}

/** A zone where `now` is an hour or more inside the window, away from both edges. */
export function zoneInsideWindow(now: number, preference: TimePreference): string {
  return zoneWithLocalHour(now, TIME_WINDOWS[preference].startHour + 1);
}

/** A zone where `now` is three hours before the window opens. */
export function zoneOutsideWindow(now: number, preference: TimePreference): string {
  return zoneWithLocalHour(now, TIME_WINDOWS[preference].startHour - 3);
}
