/**
 * How long the engine keeps what it writes: one list that the daily cleanup runs and the
 * README's retention table shows. Pure data and pure helpers; the collection names are those of
 * `adapters/firestore/collections.ts` (a test holds the two together).
 *
 * Every collection is either removed by the cleanup cron (by an indexed Unix-ms time field, in
 * bounded batches) or bounded by nature (one document per user, a fixed document). Collections
 * written on every LLM call or sign-in guess also carry a TTL Timestamp (`expireAt`; the sign-in
 * throttle's `expiresAt`) so a TTL policy removes them on real Firestore however large their volume
 * grows; the cron is then a backstop, and the only remover on the emulator.
 */

const DAY_MS = 24 * 3_600_000;

/** The field a Firestore TTL policy reads: a Timestamp, written on each document of a TTL rule. */
export const TTL_FIELD = "expireAt";

export interface RetentionRule {
  /** The key the cleanup report uses. */
  name: string;
  collection: string;
  /** Unix-ms field the cleanup range-filters on (indexed). */
  timeField: string;
  /** Narrows the rule to some documents of the collection (an equality filter). */
  where?: { field: string; op: "==" | "in"; value: string | readonly string[] };
  /** Days kept after `timeField`; "history" follows `RETENTION_DAYS` (30 by default). */
  days: number | "history";
  /** The Timestamp field the documents carry for a Firestore TTL policy, if any. */
  ttlField: string | null;
  reason: string;
}

/** Collections the cleanup never deletes from, and why they cannot grow without bound. */
export interface KeptCollection {
  collection: string;
  reason: string;
}

export const RETENTION_RULES: readonly RetentionRule[] = [
  {
    name: "schedulerRuns",
    collection: "schedulerRuns",
    timeField: "startedAt",
    days: "history",
    ttlField: null,
    reason: "run summaries for the admin pages",
  },
  {
    name: "processedEvents",
    collection: "events",
    timeField: "processed_at",
    where: { field: "status", op: "==", value: "processed" },
    days: "history",
    ttlField: null,
    reason: "delivered outbox events; pending ones are never deleted",
  },
  {
    name: "deadLetterEvents",
    collection: "events",
    timeField: "created_at",
    where: { field: "status", op: "==", value: "dead_letter" },
    days: 180,
    ttlField: null,
    reason: "events that failed for good: half a year for an operator to replay them",
  },
  {
    name: "eventDeadLetters",
    collection: "eventDeadLetters",
    timeField: "created_at",
    days: 180,
    ttlField: null,
    reason: "the dead-letter records of those events, kept as long",
  },
  {
    name: "unsentAttempts",
    collection: "coachingMessages",
    timeField: "createdAt",
    where: { field: "status", op: "in", value: ["rejected", "failed"] },
    days: "history",
    ttlField: null,
    reason: "rejected and failed generation attempts; sent messages are the user's and kept",
  },
  {
    name: "completedSlots",
    collection: "coachingSlots",
    timeField: "updatedAt",
    where: { field: "status", op: "==", value: "completed" },
    days: "history",
    ttlField: null,
    reason: "finished due slots: the idempotency record outlives any retry by far",
  },
  {
    name: "slotLeases",
    collection: "coachingSlotLeases",
    timeField: "claimedAt",
    days: 7,
    ttlField: null,
    reason:
      "a lease outlives its holder by minutes (the processor's maxDuration); a week leaves room to investigate",
  },
  {
    name: "eventLeases",
    collection: "eventLeases",
    timeField: "claimedAt",
    days: 7,
    ttlField: null,
    reason: "as slot leases, for outbox events",
  },
  {
    name: "breakerProbes",
    collection: "llmBreakerProbes",
    timeField: "claimedAt",
    days: 7,
    ttlField: null,
    reason: "a probe claim matters only until the breaker closes or reopens",
  },
  {
    name: "loginThrottle",
    collection: "adminLoginThrottle",
    timeField: "claimedAt",
    days: 2,
    // The sign-in throttle writes its own TTL field (a day after its window ends).
    ttlField: "expiresAt",
    reason: "sign-in guesses count only within their throttle window",
  },
  {
    name: "quotaTokens",
    collection: "llmQuotaTokens",
    timeField: "claimedAt",
    days: 2,
    ttlField: TTL_FIELD,
    reason: "one per LLM call; a token matters only within its minute",
  },
  {
    name: "minuteUsage",
    collection: "llmUsage",
    timeField: "updatedAt",
    where: { field: "window", op: "==", value: "minute" },
    days: 2,
    ttlField: TTL_FIELD,
    reason: "per-minute counters matter only within their minute",
  },
  {
    name: "dayUsage",
    collection: "llmUsage",
    timeField: "updatedAt",
    where: { field: "window", op: "==", value: "day" },
    days: 40,
    ttlField: TTL_FIELD,
    reason: "daily counters: the current day is enforced, a month of days is kept to look back",
  },
  {
    name: "monthUsage",
    collection: "llmUsage",
    timeField: "updatedAt",
    where: { field: "window", op: "==", value: "month" },
    days: 400,
    ttlField: TTL_FIELD,
    reason: "monthly counters and cost: a year of budgets to compare",
  },
];

export const KEPT_COLLECTIONS: readonly KeptCollection[] = [
  { collection: "users", reason: "written by the journaling app; the engine owns a few scheduling fields" },
  {
    collection: "journalEntries",
    reason: "the user's journal (coaching entries included): kept for the life of the account",
  },
  { collection: "userInsights", reason: "one document per user, overwritten in place" },
  {
    collection: "userProcessingState",
    reason: "one document per user; its logs are capped (20 actions, 10 errors)",
  },
  { collection: "userApiKeys", reason: "one document per user, deleted with the key" },
  { collection: "systemState", reason: "a fixed set of documents (the LLM breaker)" },
  { collection: "eventStats", reason: "one totals document" },
];

/** Which collections a rule or a kept entry covers: every collection the engine writes must appear. */
export function coveredCollections(): Set<string> {
  return new Set([
    ...RETENTION_RULES.map((rule) => rule.collection),
    ...KEPT_COLLECTIONS.map((kept) => kept.collection),
  ]);
}

export function retentionDays(rule: RetentionRule, historyDays: number): number {
  return rule.days === "history" ? historyDays : rule.days;
}

/** Documents of `rule` whose time field is before this are deleted. */
export function retentionCutoff(
  rule: RetentionRule,
  { now, historyDays }: { now: number; historyDays: number },
): number {
  return now - retentionDays(rule, historyDays) * DAY_MS;
}

/**
 * When a document of `rule` written or updated at `now` may go (the `expireAt` of a TTL rule).
 * TTL rules keep a fixed number of days: the writer does not know `RETENTION_DAYS`.
 */
export function retentionExpiry(rule: RetentionRule & { days: number }, now: number): number {
  return now + rule.days * DAY_MS;
}

/** The rule named `name` (a programming error when there is none). */
export function retentionRule(name: string): RetentionRule {
  const rule = RETENTION_RULES.find((candidate) => candidate.name === name);
  if (!rule) throw new Error(`no retention rule named ${name}`);
  return rule;
}

/** A TTL rule by name: its documents' `expireAt` is written from its fixed days. */
export function ttlRetentionRule(name: string): RetentionRule & { days: number } {
  const rule = retentionRule(name);
  if (rule.ttlField === null || rule.days === "history")
    throw new Error(`${name} is not a fixed-days TTL rule`);
  return { ...rule, days: rule.days };
}

/** The (collection, field) pairs with a Firestore TTL policy. */
export function ttlPolicies(): { collection: string; field: string }[] {
  const seen = new Set<string>();
  const policies: { collection: string; field: string }[] = [];
  for (const rule of RETENTION_RULES) {
    if (rule.ttlField === null || seen.has(rule.collection)) continue;
    seen.add(rule.collection);
    policies.push({ collection: rule.collection, field: rule.ttlField });
  }
  return policies;
}

/** The commands that turn the TTL policies on (also declared in firestore.indexes.json). */
export function ttlCommands(): string[] {
  return ttlPolicies().map(
    ({ collection, field }) =>
      `gcloud firestore fields ttls update ${field} --collection-group=${collection} --enable-ttl`,
  );
}

/**
 * Large or free-text fields exempted from indexing (`fieldOverrides` in firestore.indexes.json):
 * nothing queries them, and indexing them costs write latency, storage and the 1,500-byte
 * index-entry truncation.
 */
export const UNINDEXED_FIELDS: readonly { collection: string; field: string }[] = [
  { collection: "coachingMessages", field: "messageContent" },
  { collection: "coachingMessages", field: "originalMessageContent" },
  { collection: "coachingMessages", field: "outcomeReasoning" },
  { collection: "coachingMessages", field: "contextUsed" },
  { collection: "coachingMessages", field: "llmCalls" },
  { collection: "coachingMessages", field: "delivery" },
  { collection: "journalEntries", field: "content" },
  { collection: "userInsights", field: "summary" },
  { collection: "userInsights", field: "latestSummary" },
  { collection: "userInsights", field: "batches" },
  { collection: "userProcessingState", field: "actionHistory" },
  { collection: "userProcessingState", field: "recentErrors" },
  { collection: "schedulerRuns", field: "userResults" },
  { collection: "events", field: "payload" },
  { collection: "events", field: "last_error" },
  { collection: "eventDeadLetters", field: "payload" },
  { collection: "eventDeadLetters", field: "error_message" },
  { collection: "userApiKeys", field: "encrypted" },
];
