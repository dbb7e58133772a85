import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FREQUENCIES, isInsideWindow, TIME_PREFERENCES } from "@/core/schedule";
import { parseUserDocument } from "@/core/user";
import { buildDemoUsers } from "../../../scripts/local-stack/demo-data";

const NOW = Date.parse("2026-11-24T06:30:00Z");

describe("demo data", () => {
  const users = buildDemoUsers({ now: NOW });

  it("has at least 40 valid users over at least 8 zones, including the awkward ones", () => {
    expect(users.length).toBeGreaterThanOrEqual(40);
    for (const user of users) expect(parseUserDocument(user.uid, user.document).valid).toBe(true);
    const zones = new Set(users.map((user) => user.document.timezone));
    expect(zones.size).toBeGreaterThanOrEqual(8);
    for (const zone of [
      "America/New_York",
      "Australia/Sydney",
      "Asia/Kolkata",
      "Asia/Kathmandu",
      "Asia/Tokyo",
    ]) {
      expect(zones).toContain(zone);
    }
  });

  it("covers every frequency and time preference, with 2 to 10 journal entries each", () => {
    const configs = users.map(
      (user) => user.document.coachingConfig as { frequency: string; timePreference: string },
    );
    expect(new Set(configs.map((config) => config.frequency))).toEqual(new Set(FREQUENCIES));
    expect(new Set(configs.map((config) => config.timePreference))).toEqual(new Set(TIME_PREFERENCES));
    for (const user of users) {
      expect(user.entries.length).toBeGreaterThanOrEqual(2);
      expect(user.entries.length).toBeLessThanOrEqual(10);
    }
  });

  it("always has users due inside their window, due outside it, and unscheduled, whatever the hour", () => {
    fc.assert(
      fc.property(fc.integer({ min: NOW, max: NOW + 7 * 86_400_000 }), (now) => {
        const world = buildDemoUsers({ now });
        const dueInside = world.filter((user) => {
          const document = user.document as {
            timezone: string;
            nextCoachingMessageDue: number | null;
            coachingConfig: { timePreference: "morning" };
          };
          return (
            typeof document.nextCoachingMessageDue === "number" &&
            document.nextCoachingMessageDue <= now &&
            isInsideWindow({
              at: now,
              timezone: document.timezone,
              timePreference: document.coachingConfig.timePreference,
            })
          );
        });
        expect(dueInside.length).toBeGreaterThanOrEqual(3);
        expect(world.some((user) => user.state === "due-outside")).toBe(true);
        expect(world.filter((user) => user.document.nextCoachingMessageDue === null).length).toBeGreaterThan(
          5,
        );
      }),
      { numRuns: 200 },
    );
  });
});
