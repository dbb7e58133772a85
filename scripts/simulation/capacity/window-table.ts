/**
 * Every occurrence of every (zone, time preference) window over the simulated span, as instants,
 * so the report can tell in O(log days) which window a send fell in and how many windows a user
 * waited through. Built from the windows of docs/scheduling.md (`TIME_WINDOWS` in core/schedule.ts) with
 * Temporal, as the core builds its own due times.
 */
import { Temporal } from "temporal-polyfill";
import { TIME_PREFERENCES, TIME_WINDOWS } from "@/core/schedule";

const DAY_MS = 86_400_000;

export interface WindowOccurrences {
  starts: Float64Array;
  ends: Float64Array;
  targets: Float64Array;
}

function firstIndexAbove(values: Float64Array, value: number): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((values[middle] as number) > value) high = middle;
    else low = middle + 1;
  }
  return low;
}

export class WindowTable {
  private readonly tables: WindowOccurrences[] = [];

  /** Windows of local dates from two days before `from` to nine days after `to`. */
  constructor(zones: readonly string[], from: number, to: number) {
    const days = Math.ceil((to - from) / DAY_MS) + 11;
    for (const zone of zones) {
      const firstDate = Temporal.Instant.fromEpochMilliseconds(from - 2 * DAY_MS)
        .toZonedDateTimeISO(zone)
        .toPlainDate();
      for (const preference of TIME_PREFERENCES) {
        const { startHour, endHour, targetHour } = TIME_WINDOWS[preference];
        const table: WindowOccurrences = {
          starts: new Float64Array(days),
          ends: new Float64Array(days),
          targets: new Float64Array(days),
        };
        for (let day = 0; day < days; day += 1) {
          const date = firstDate.add({ days: day });
          const at = (hour: number) =>
            date.toZonedDateTime({ timeZone: zone, plainTime: Temporal.PlainTime.from({ hour }) }).toInstant()
              .epochMilliseconds;
          table.starts[day] = at(startHour);
          table.ends[day] = at(endHour);
          table.targets[day] = at(targetHour);
        }
        this.tables.push(table);
      }
    }
  }

  of(zone: number, preference: number): WindowOccurrences {
    return this.tables[zone * TIME_PREFERENCES.length + preference] as WindowOccurrences;
  }

  /** Index of the window containing `at`, or -1. */
  containing(zone: number, preference: number, at: number): number {
    const table = this.of(zone, preference);
    const index = firstIndexAbove(table.starts, at) - 1;
    return index >= 0 && at < (table.ends[index] as number) ? index : -1;
  }

  /** Index of the first window that ends after `at`: the window a slot due at `at` belongs to. */
  firstEndingAfter(zone: number, preference: number, at: number): number {
    return firstIndexAbove(this.of(zone, preference).ends, at);
  }

  /** Windows that ended in `(after, upTo]`. */
  endedBetween(zone: number, preference: number, after: number, upTo: number): number {
    const { ends } = this.of(zone, preference);
    return Math.max(0, firstIndexAbove(ends, upTo) - firstIndexAbove(ends, after));
  }
}
