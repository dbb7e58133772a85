import { describe, expect, it } from "vitest";
import { isInstant, MAX_INSTANT_MS, parseUserDocument } from "@/core/user";
import { userDocument } from "../support/users";

describe("reading the engine-owned times of a user document", () => {
  it.each([
    ["a due time beyond any date", 1e300],
    ["a due time just past the last date", MAX_INSTANT_MS + 1],
    ["an infinite due time", Number.POSITIVE_INFINITY],
    ["NaN", Number.NaN],
  ])("reads %s as missing, so the unscheduled sweep schedules the user afresh", (_case, due) => {
    const snapshot = parseUserDocument("u", { ...userDocument(), nextCoachingMessageDue: due });
    expect(snapshot).toMatchObject({ valid: true, nextCoachingMessageDue: undefined });
    expect(snapshot.valid && snapshot.user.nextCoachingMessageDue).toBeUndefined();
  });

  it.each([0, 1_796_000_000_000, -1, MAX_INSTANT_MS, 1.5])("keeps an ordinary due time: %s", (due) => {
    expect(parseUserDocument("u", userDocument({ nextCoachingMessageDue: due }))).toMatchObject({
      valid: true,
      nextCoachingMessageDue: due,
    });
  });

  it("reports a suspension that ends beyond any date instead of suspending the user past every time", () => {
    const snapshot = parseUserDocument("u", { ...userDocument(), suspendUntil: 1e300 });
    expect(snapshot).toMatchObject({
      valid: false,
      enabled: true,
      problem: expect.stringContaining("suspendUntil"),
    });
  });

  it("keeps an ordinary suspension", () => {
    const snapshot = parseUserDocument("u", { ...userDocument(), suspendUntil: 1_796_000_000_000 });
    expect(snapshot.valid && snapshot.user.suspendUntil).toBe(1_796_000_000_000);
  });

  it.each([
    [1_796_000_000_000, true],
    [-MAX_INSTANT_MS, true],
    [MAX_INSTANT_MS + 1, false],
    [1e300, false],
    [Number.NaN, false],
    ["1796000000000", false],
    [null, false],
  ])("isInstant(%s) is %s", (value, expected) => {
    expect(isInstant(value)).toBe(expected);
  });
});

describe("the engine's mirror of the enable flag", () => {
  it("reads `coachingEnabled` as the engine wrote it", () => {
    const snapshot = parseUserDocument("u", { ...userDocument({ enabled: true }), coachingEnabled: false });
    expect(snapshot.valid && snapshot.user.coachingEnabled).toBe(false);
  });

  it.each([
    ["a string", "true"],
    ["a number", 1],
    ["null", null],
  ])("reads %s as absent, never parking the user as malformed", (_case, value) => {
    const snapshot = parseUserDocument("u", { ...userDocument(), coachingEnabled: value });
    expect(snapshot.valid).toBe(true);
    expect(snapshot.valid && snapshot.user.coachingEnabled).toBeUndefined();
  });
});
