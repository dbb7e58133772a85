import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { COLLECTIONS } from "@/adapters/firestore/collections";
import {
  coveredCollections,
  RETENTION_RULES,
  retentionCutoff,
  ttlCommands,
  ttlPolicies,
} from "@/core/retention";
import { UNINDEXED_FIELDS } from "@/core/unindexed-fields";
import { readFieldOverrides } from "../support/index-coverage";

const DAY = 24 * 3_600_000;

describe("retention", () => {
  it("covers every collection the engine reads or writes", () => {
    const covered = coveredCollections();
    expect(Object.values(COLLECTIONS).filter((collection) => !covered.has(collection))).toEqual([]);
  });

  it("gives every cleanup rule a time field, a reason and a positive number of days", () => {
    for (const rule of RETENTION_RULES) {
      expect(rule.timeField).not.toBe("");
      expect(rule.reason.length).toBeGreaterThan(10);
      expect(retentionCutoff(rule, { now: 100 * DAY, historyDays: 30 })).toBeLessThan(100 * DAY);
    }
    expect(new Set(RETENTION_RULES.map((rule) => rule.name)).size).toBe(RETENTION_RULES.length);
    // A TTL writer stamps `expireAt` from the rule's days, without the configured history days.
    expect(RETENTION_RULES.filter((rule) => rule.ttlField !== null && rule.days === "history")).toEqual([]);
  });

  it("history rules follow RETENTION_DAYS; fixed rules do not", () => {
    const runs = RETENTION_RULES.find((rule) => rule.name === "schedulerRuns");
    const tokens = RETENTION_RULES.find((rule) => rule.name === "quotaTokens");
    if (!runs || !tokens) throw new Error("rules missing");
    expect(retentionCutoff(runs, { now: 100 * DAY, historyDays: 10 })).toBe(90 * DAY);
    expect(retentionCutoff(tokens, { now: 100 * DAY, historyDays: 10 })).toBe(98 * DAY);
  });

  it.each([
    ["coachingSlotLeases", "slotLeases"],
    ["coachingSlots", "completedSlots"],
    ["eventLeases", "eventLeases"],
    ["events", "processedEvents"],
    ["events", "deadLetterEvents"],
    ["llmBreakerProbes", "breakerProbes"],
    ["coachingMessages", "unsentAttempts"],
    ["llmQuotaTokens", "quotaTokens"],
    ["llmUsage", "minuteUsage"],
    ["llmCallCeiling", "llmCeiling"],
  ])("gives the high-volume collection %s (rule %s) a TTL field", (collection, name) => {
    // At 1,000,000 users these grow by millions of documents a day; a cron deleting
    // CLEANUP_MAX_DELETES (5,000) a day cannot keep up, so a TTL policy must remove them.
    const rule = RETENTION_RULES.find((candidate) => candidate.name === name);
    expect(rule?.collection).toBe(collection);
    expect(rule?.ttlField).toBe("expireAt");
    expect(ttlPolicies()).toContainEqual({ collection, field: "expireAt" });
  });

  it("names the gcloud command for each TTL collection", () => {
    expect(ttlCommands()).toContain(
      "gcloud firestore fields ttls update expireAt --collection-group=llmQuotaTokens --enable-ttl",
    );
    expect(ttlCommands()).toHaveLength(ttlPolicies().length);
  });

  it("lists every TTL command in docs/operations.md (the README links there)", () => {
    const operations = readFileSync(new URL("../../docs/operations.md", import.meta.url), "utf8");
    expect(ttlCommands().filter((command) => !operations.includes(command))).toEqual([]);
  });
});

describe("firestore.indexes.json field overrides", () => {
  const overrides = readFieldOverrides();
  const exempt = (collection: string, field: string) =>
    overrides.some(
      (override) =>
        override.collectionGroup === collection &&
        override.fieldPath === field &&
        override.indexes.length === 0,
    );

  it.each([
    ["coachingMessages", "messageContent"],
    ["coachingMessages", "originalMessageContent"],
    ["coachingMessages", "contextUsed"],
    ["coachingMessages", "llmCalls"],
    ["journalEntries", "content"],
    ["userInsights", "summary"],
  ])("exempts the large text field %s.%s from indexing", (collection, field) => {
    expect(exempt(collection, field)).toBe(true);
  });

  it("exempts every field the retention module lists as unindexed", () => {
    expect(UNINDEXED_FIELDS.filter(({ collection, field }) => !exempt(collection, field))).toEqual([]);
  });

  it("declares every TTL policy of the retention rules", () => {
    const declared = (collection: string, field: string) =>
      overrides.some(
        (override) =>
          override.collectionGroup === collection && override.fieldPath === field && override.ttl === true,
      );
    expect(ttlPolicies().filter(({ collection, field }) => !declared(collection, field))).toEqual([]);
  });
});
