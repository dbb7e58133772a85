import fc from "fast-check";
import { Temporal } from "temporal-polyfill";
import { describe, expect, it } from "vitest";
import {
  BOOTSTRAP_MAX_HOURS,
  BOOTSTRAP_MIN_HOURS,
  bootstrapDueAt,
  FREQUENCIES,
  FREQUENCY_INTERVAL_DAYS,
  isInsideWindow,
  nextDueAfterSuccess,
  nextWindowTarget,
  RETRY_INTERVAL_HOURS,
  retryDueAt,
  TIME_PREFERENCES,
  TIME_WINDOWS,
} from "@/core/schedule";
import { daysBetween, localParts } from "../support/local-time";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Zones with and without DST, southern hemisphere, half-hour and 45-minute offsets. */
const ZONES = [
  "America/New_York",
  "Europe/London",
  "Australia/Sydney",
  "Asia/Kolkata",
  "Asia/Kathmandu",
  "America/Los_Angeles",
  "Europe/Berlin",
  "Pacific/Auckland",
  "America/St_Johns",
  "Australia/Adelaide",
  "Asia/Tokyo",
  "America/Sao_Paulo",
  "Pacific/Chatham",
  "UTC",
] as const;

const RANGE_START = Date.parse("2020-01-01T00:00:00Z");
const RANGE_END = Date.parse("2032-01-01T00:00:00Z");

/** Every DST transition of the zone between 2020 and 2032. */
function transitionsOf(timezone: string): number[] {
  const transitions: number[] = [];
  let cursor: Temporal.ZonedDateTime | null =
    Temporal.Instant.fromEpochMilliseconds(RANGE_START).toZonedDateTimeISO(timezone);
  while (cursor) {
    cursor = cursor.getTimeZoneTransition("next");
    if (!cursor || cursor.epochMilliseconds > RANGE_END) break;
    transitions.push(cursor.epochMilliseconds);
  }
  return transitions;
}

const TRANSITIONS = Object.fromEntries(ZONES.map((zone) => [zone, transitionsOf(zone)]));

/** A zone and an instant: anywhere in 2020–2031, or within three days of one of the zone's DST changes. */
const zonedInstant = fc.constantFrom(...ZONES).chain((timezone) => {
  const anywhere = fc.integer({ min: RANGE_START, max: RANGE_END });
  const transitions = TRANSITIONS[timezone] ?? [];
  const nearTransition =
    transitions.length === 0
      ? anywhere
      : fc
          .tuple(fc.constantFrom(...transitions), fc.integer({ min: -3 * DAY, max: 3 * DAY }))
          .map(([transition, offset]) => transition + offset);
  return fc.record({ timezone: fc.constant(timezone), now: fc.oneof(anywhere, nearTransition) });
});

const frequency = fc.constantFrom(...FREQUENCIES);
const timePreference = fc.constantFrom(...TIME_PREFERENCES);

describe("nextDueAfterSuccess", () => {
  it("lands exactly on the target hour, 1, 2 or 7 local calendar days after today", () => {
    fc.assert(
      fc.property(zonedInstant, frequency, timePreference, ({ timezone, now }, freq, preference) => {
        const due = nextDueAfterSuccess({ now, timezone, frequency: freq, timePreference: preference });
        const local = localParts(due, timezone);
        expect(local).toMatchObject({ hour: TIME_WINDOWS[preference].targetHour, minute: 0, second: 0 });
        expect(daysBetween(localParts(now, timezone).date, local.date)).toBe(FREQUENCY_INTERVAL_DAYS[freq]);
        expect(due).toBeGreaterThan(now);
      }),
      { numRuns: 3000 },
    );
  });

  it("uses the 23-hour day across spring DST in New York", () => {
    const now = Date.parse("2026-03-07T13:05:00Z"); // 08:05 EST on Saturday
    const due = nextDueAfterSuccess({
      now,
      timezone: "America/New_York",
      frequency: "daily",
      timePreference: "morning",
    });
    expect(new Date(due).toISOString()).toBe("2026-03-08T12:00:00.000Z"); // 08:00 EDT on Sunday
  });

  it("uses the 25-hour day across autumn DST in London", () => {
    const now = Date.parse("2026-10-24T13:00:00Z"); // 14:00 BST
    const due = nextDueAfterSuccess({
      now,
      timezone: "Europe/London",
      frequency: "daily",
      timePreference: "afternoon",
    });
    expect(new Date(due).toISOString()).toBe("2026-10-25T14:00:00.000Z"); // 14:00 GMT
  });

  it("keeps 19:00 local across the southern-hemisphere spring change in Sydney", () => {
    const now = Date.parse("2026-10-02T08:10:00Z"); // 18:10 AEST, Friday
    const due = nextDueAfterSuccess({
      now,
      timezone: "Australia/Sydney",
      frequency: "multipleTimesPerWeek",
      timePreference: "evening",
    });
    expect(new Date(due).toISOString()).toBe("2026-10-04T08:00:00.000Z"); // 19:00 AEDT, Sunday
  });

  it("honours the 45-minute offset of Kathmandu", () => {
    const now = Date.parse("2026-06-01T02:20:00Z"); // 08:05 NPT
    const due = nextDueAfterSuccess({
      now,
      timezone: "Asia/Kathmandu",
      frequency: "onceAWeek",
      timePreference: "morning",
    });
    expect(new Date(due).toISOString()).toBe("2026-06-08T02:15:00.000Z"); // 08:00 NPT a week on
  });
});

describe("isInsideWindow", () => {
  it.each([
    ["morning", "05:59", false],
    ["morning", "06:00", true],
    ["morning", "10:59", true],
    ["morning", "11:00", false],
    ["afternoon", "11:59", false],
    ["afternoon", "12:00", true],
    ["afternoon", "16:59", true],
    ["afternoon", "17:00", false],
    ["evening", "17:59", false],
    ["evening", "18:00", true],
    ["evening", "20:59", true],
    ["evening", "21:00", false],
  ] as const)("%s window at %s local in Kolkata is inside: %s", (preference, time, inside) => {
    const at = Temporal.PlainDateTime.from(`2026-11-24T${time}`)
      .toZonedDateTime("Asia/Kolkata")
      .toInstant().epochMilliseconds;
    expect(isInsideWindow({ at, timezone: "Asia/Kolkata", timePreference: preference })).toBe(inside);
  });

  it("agrees with the local hour read independently", () => {
    fc.assert(
      fc.property(zonedInstant, timePreference, ({ timezone, now }, preference) => {
        const { startHour, endHour } = TIME_WINDOWS[preference];
        const { hour } = localParts(now, timezone);
        expect(isInsideWindow({ at: now, timezone, timePreference: preference })).toBe(
          hour >= startHour && hour < endHour,
        );
      }),
      { numRuns: 3000 },
    );
  });
});

describe("nextWindowTarget", () => {
  it("moves a due user outside the window to the next window's target hour, never into the past", () => {
    fc.assert(
      fc.property(zonedInstant, timePreference, ({ timezone, now }, preference) => {
        fc.pre(!isInsideWindow({ at: now, timezone, timePreference: preference }));
        const due = nextWindowTarget({ now, timezone, timePreference: preference });
        expect(due).toBeGreaterThan(now);
        expect(isInsideWindow({ at: due, timezone, timePreference: preference })).toBe(true);
        expect(localParts(due, timezone)).toMatchObject({
          hour: TIME_WINDOWS[preference].targetHour,
          minute: 0,
        });
        // The next window, not a later one: at most one local day ahead (plus a DST hour).
        expect(due - now).toBeLessThanOrEqual(DAY + HOUR);
      }),
      { numRuns: 3000 },
    );
  });

  it("moves a morning user seen at 04:00 local to 08:00 the same day", () => {
    const now = Date.parse("2026-11-24T09:00:00Z"); // 04:00 EST
    const due = nextWindowTarget({ now, timezone: "America/New_York", timePreference: "morning" });
    expect(new Date(due).toISOString()).toBe("2026-11-24T13:00:00.000Z");
  });

  it("moves an evening user seen at 21:00 local to 19:00 the next day", () => {
    const now = Date.parse("2026-11-24T15:30:00Z"); // 21:00 IST
    const due = nextWindowTarget({ now, timezone: "Asia/Kolkata", timePreference: "evening" });
    expect(new Date(due).toISOString()).toBe("2026-11-25T13:30:00.000Z");
  });
});

describe("bootstrapDueAt", () => {
  it("stays within 1 h and the frequency's upper bound", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: RANGE_START, max: RANGE_END }),
        frequency,
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (now, freq, draw) => {
          const due = bootstrapDueAt({ now, frequency: freq, random: () => draw });
          expect(due - now).toBeGreaterThanOrEqual(BOOTSTRAP_MIN_HOURS * HOUR);
          expect(due - now).toBeLessThanOrEqual(BOOTSTRAP_MAX_HOURS[freq] * HOUR);
        },
      ),
    );
  });

  it.each([
    ["daily", 7],
    ["multipleTimesPerWeek", 13],
    ["onceAWeek", 25],
  ] as const)("spans 1 to %s's %i hours as the random draw goes from 0 to 1", (freq, maxHours) => {
    const now = Date.parse("2026-11-24T00:00:00Z");
    expect(bootstrapDueAt({ now, frequency: freq, random: () => 0 }) - now).toBe(HOUR);
    const highest = bootstrapDueAt({ now, frequency: freq, random: () => 0.999_999_999 }) - now;
    expect(highest).toBeGreaterThan((maxHours - 0.01) * HOUR);
    expect(highest).toBeLessThan(maxHours * HOUR);
  });
});

describe("retryDueAt", () => {
  it.each([
    ["daily", 2],
    ["multipleTimesPerWeek", 4],
    ["onceAWeek", 8],
  ] as const)("retries a %s user %i hours after the hourly tick that took the run", (freq, hours) => {
    fc.assert(
      fc.property(fc.integer({ min: RANGE_START, max: RANGE_END }), (now) => {
        const retryAt = retryDueAt({ now, frequency: freq });
        // On the scheduler's tick grid: the top of the UTC hour `hours` after the failure's hour.
        expect(retryAt % HOUR).toBe(0);
        expect(retryAt).toBe(Math.floor(now / HOUR) * HOUR + hours * HOUR);
        // So never less than `hours - 1` hours nor more than `hours` hours after the failure.
        expect(retryAt - now).toBeGreaterThan((hours - 1) * HOUR);
        expect(retryAt - now).toBeLessThanOrEqual(hours * HOUR);
      }),
    );
    expect(RETRY_INTERVAL_HOURS[freq]).toBe(hours);
  });

  it("brings a run that failed just after the 08:00 tick back at the 10:00 tick, not just after it", () => {
    // 08:00:05 + 2 h would be 10:00:05, after the 10:00 tick; the 11:00 tick is outside a morning window.
    const failedAt = Date.parse("2026-12-07T13:00:05Z");
    expect(retryDueAt({ now: failedAt, frequency: "daily" })).toBe(Date.parse("2026-12-07T15:00:00Z"));
  });
});
