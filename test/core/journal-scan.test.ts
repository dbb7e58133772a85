import { describe, expect, it } from "vitest";
import { completeTimes, foldEntriesAfterPage, toUserEntry } from "@/core/journal-scan";
import { isKeyCooling, keyCoolDownMs, MAX_KEY_COOL_DOWN_MS } from "@/core/user-key-health";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe("reading the user's own entries", () => {
  it.each([
    ["a user entry", { content: "Hello", createdAt: 5 }, true],
    ["a coaching entry", { content: "Coach", createdAt: 5, isCoachingMessage: true }, false],
    ["an entry without text", { createdAt: 5 }, false],
    ["an entry with a Timestamp time", { content: "x", createdAt: { seconds: 1 } }, false],
  ])("takes %s: %s", (_name, document, kept) => {
    expect(toUserEntry("id", document) !== null).toBe(kept);
  });

  it("a full page ending inside a run of equal times leaves that run to the next page", () => {
    const page = [1, 2, 3, 3].map((createdAt, index) => ({ id: `d${index}`, createdAt }));
    expect(completeTimes(page, 4).map((document) => document.id)).toEqual(["d0", "d1"]);
    expect(completeTimes(page.slice(0, 3), 4)).toHaveLength(3);
    const oneTime = [7, 7, 7].map((createdAt, index) => ({ id: `d${index}`, createdAt }));
    expect(completeTimes(oneTime, 3)).toHaveLength(3);
  });

  it("reads through skipped coaching entries, and stops at the last entry kept once full", () => {
    const page = [
      { id: "c1", document: { content: "c", createdAt: 10, isCoachingMessage: true } },
      { id: "u1", document: { content: "u", createdAt: 11 } },
      { id: "c2", document: { content: "c", createdAt: 12, isCoachingMessage: true } },
      { id: "u2", document: { content: "u", createdAt: 13 } },
    ];
    expect(foldEntriesAfterPage({ entries: [], readThrough: 9 }, page, 5)).toMatchObject({
      readThrough: 13,
      full: false,
    });
    const full = foldEntriesAfterPage({ entries: [], readThrough: 9 }, page, 1);
    expect(full).toMatchObject({ readThrough: 11, full: true });
    expect(full.entries.map((entry) => entry.id)).toEqual(["u1"]);
  });
});

describe("a rejected key's rest", () => {
  it.each([
    [429, 1, 5 * MINUTE],
    [429, 2, 10 * MINUTE],
    [429, 3, 20 * MINUTE],
    [402, 1, HOUR],
    [401, 1, 6 * HOUR],
    [403, 2, 12 * HOUR],
    [401, 3, MAX_KEY_COOL_DOWN_MS],
    [429, 40, MAX_KEY_COOL_DOWN_MS],
  ])("HTTP %i, rejection %i in a row: rests %i ms", (statusCode, consecutiveRejections, restMs) => {
    expect(keyCoolDownMs({ statusCode, consecutiveRejections })).toBe(restMs);
  });

  it("rests until coolingUntil, not after", () => {
    expect(isKeyCooling({ coolingUntil: 100 }, 99)).toBe(true);
    expect(isKeyCooling({ coolingUntil: 100 }, 100)).toBe(false);
    expect(isKeyCooling({ coolingUntil: null }, 0)).toBe(false);
  });
});
