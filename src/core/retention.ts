// Over 300 lines: one declarative table (a rule per collection, each with its reason) reads best whole.
/**
 * How long the engine keeps what it writes: one list that the daily cleanup runs and the
 * retention table of docs/data-model.md shows. Pure data and pure helpers; the collection names are those of
 * `adapters/firestore/collections.ts` (a test holds the two together).
 *
 * Every collection is either removed by the cleanup cron (by an indexed Unix-ms time field, in
 * bounded batches) or bounded by nature (one document per user, a fixed document). Collections
 * written for every processed user, event, LLM call or sign-in guess also carry a TTL Timestamp
 * (`expireAt`; the sign-in throttle's `expiresAt`) so a TTL policy removes them on real Firestore
 * however large their volume grows; the cron is then a backstop (documents written before the
 * field, a project without the policies), and the only remover on the emulator. A document whose
 * retention starts with a later state is stamped by the write that makes it deletable (a slot's
 * completion, an event's processing or dead letter), never while it is live.
 *
 * Why TTL: at 1,000,000 users and about one message a day each, the engine writes per day about
 * 1M slots, 2M slot leases (claim and completion), 1M delivery events, 1M event leases, 2-3M quota
 * tokens (one per LLM call: generation, scoring, a regeneration now and then), 2M usage counters
 * (a minute and a day window per user) and the rejected or failed attempts: about 10M documents a
 * day, so about 10M deletes a day (~115/s) in the steady state. The daily cron deletes at most
 * `CLEANUP_MAX_DELETES` (5,000) a run: 0.05% of that, its backlog growing by ~10M a day.
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
    // Fixed days (RETENTION_DAYS' default): the outbox stamps `expireAt` when it processes the event.
    days: 30,
    ttlField: TTL_FIELD,
    reason: "delivered outbox events; pending ones are never deleted",
  },
  {
    name: "deadLetterEvents",
    collection: "events",
    timeField: "created_at",
    where: { field: "status", op: "==", value: "dead_letter" },
    days: 180,
    ttlField: TTL_FIELD,
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
    // Fixed days, stamped when the attempt is stored (it is rejected or failed from the start).
    days: 30,
    ttlField: TTL_FIELD,
    reason: "rejected and failed generation attempts; sent messages are the user's and kept",
  },
  {
    name: "completedSlots",
    collection: "coachingSlots",
    timeField: "updatedAt",
    where: { field: "status", op: "==", value: "completed" },
    // Fixed days, stamped by the completion: a running slot carries no `expireAt`.
    days: 30,
    ttlField: TTL_FIELD,
    reason: "finished due slots: the idempotency record outlives any retry by far",
  },
  {
    name: "slotLeases",
    collection: "coachingSlotLeases",
    timeField: "claimedAt",
    days: 7,
    ttlField: TTL_FIELD,
    reason:
      "a lease outlives its holder by minutes (the processor's maxDuration); a week leaves room to investigate",
  },
  {
    name: "eventLeases",
    collection: "eventLeases",
    timeField: "claimedAt",
    days: 7,
    ttlField: TTL_FIELD,
    reason: "as slot leases, for outbox events",
  },
  {
    name: "schedulerChainSteps",
    collection: "schedulerChainSteps",
    timeField: "claimedAt",
    days: 7,
    // At most SCHEDULER_MAX_CHAIN_STEPS claims an hour (576 a day at 24): the daily cleanup keeps up.
    ttlField: null,
    reason: "a scheduler chain step's claim matters only within its hour",
  },
  {
    name: "breakerProbes",
    collection: "llmBreakerProbes",
    timeField: "claimedAt",
    days: 7,
    ttlField: TTL_FIELD,
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
    reason:
      "written by versions before usage moved onto the processing state (core/run-usage.ts); removed once expired",
  },
  {
    name: "llmCeiling",
    collection: "llmCallCeiling",
    timeField: "minuteStart",
    days: 2,
    // A shard per 50 calls of the ceiling per minute (1,440 minutes a day): TTL keeps up at any limit.
    ttlField: TTL_FIELD,
    reason: "the global LLM ceiling's shards matter only within their minute, and the dashboard's hour",
  },
  {
    name: "resendWebhookDeliveries",
    collection: "resendWebhookDeliveries",
    timeField: "receivedAt",
    // Resend retries a delivery for about a day; a week also covers replays from its dashboard.
    days: 7,
    ttlField: TTL_FIELD,
    reason:
      "the claim of each webhook delivery (svix-id); up to a few per email sent (delivered, opened, clicked)",
  },
  {
    name: "pushDeliveries",
    collection: "pushDeliveries",
    timeField: "claimedAt",
    // Outbox retries end within a day (EVENT_MAX_AGE_HOURS); a week leaves room to investigate.
    days: 7,
    ttlField: TTL_FIELD,
    reason: "the claim of each push to each subscription: one per message per browser",
  },
  {
    name: "metricsHourly",
    collection: "metricsHourly",
    timeField: "hourStart",
    // 24 documents a day: the daily cleanup keeps up; the days they sum stay in metricsDaily.
    days: 90,
    ttlField: null,
    reason: "the operator's figures per UTC hour (the dashboard's 24 hours and today)",
  },
  {
    name: "metricsDaily",
    collection: "metricsDaily",
    timeField: "dayStart",
    days: 400,
    ttlField: null,
    reason: "the operator's figures per UTC day: a year and more of trends, one document a day",
  },
  {
    name: "metricsEngagement",
    collection: "metricsEngagement",
    timeField: "dayStart",
    days: 400,
    ttlField: null,
    reason: "engagement of each day's sent messages per rating and type, one document a day",
  },
  {
    name: "alerts",
    collection: "alerts",
    timeField: "firedAt",
    // At most one per condition per hour (7 conditions): a few a day on a bad day.
    days: 90,
    ttlField: null,
    reason: "the operator's alerts and their history on the dashboard",
  },
  {
    name: "minuteUsage",
    collection: "llmUsage",
    timeField: "updatedAt",
    where: { field: "window", op: "==", value: "minute" },
    days: 2,
    ttlField: TTL_FIELD,
    reason: "written by versions before usage moved onto the processing state; removed once expired",
  },
  {
    name: "dayUsage",
    collection: "llmUsage",
    timeField: "updatedAt",
    where: { field: "window", op: "==", value: "day" },
    days: 40,
    ttlField: TTL_FIELD,
    reason: "written by versions before usage moved onto the processing state; removed once expired",
  },
  {
    name: "monthUsage",
    collection: "llmUsage",
    timeField: "updatedAt",
    where: { field: "window", op: "==", value: "month" },
    days: 400,
    ttlField: TTL_FIELD,
    reason: "written by versions before usage moved onto the processing state; removed once expired",
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
  {
    collection: "messageFeedback",
    reason: "at most one per sent message, which is kept: the user's own word on it",
  },
  {
    collection: "pushSubscriptions",
    reason: "at most 10 per user; removed by the user, or when the push service answers 404 or 410",
  },
  {
    collection: "emailSuppressions",
    reason: "one document per bounced or complaining address, deleted when an admin lifts it",
  },
  {
    collection: "systemState",
    reason:
      "a fixed set of documents (the LLM breaker, the unscheduled sweep's cursor, the dashboard's counts of the last 14 days)",
  },
  { collection: "alertState", reason: "one document: what alert evaluations remember between them" },
  {
    collection: "alertOpen",
    reason: "one document per condition at most, while its alert is open: deleted when it resolves",
  },
  {
    collection: "eventStats",
    reason: "a fixed set: run totals in 64 shards (and the old single one), the sweep cursor",
  },
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
 * When a document of `rule` written or updated at `now` may go (the `expireAt` of a TTL rule;
 * `now` is the rule's time field as written). TTL rules keep a fixed number of days: the writer
 * does not know `RETENTION_DAYS`.
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
