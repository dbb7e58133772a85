/** Every collection the engine reads or writes, in one place. */
export const COLLECTIONS = {
  /** Written by the journaling app; the engine owns `nextCoachingMessageDue` (once set), `coachingDueRank`, `coachingParkedUntil`, `suspendUntil` and `coachingEnabled`. */
  users: "users",
  /** One summary per scheduler run, id `<ISO start>_<random>` so ids sort by time. */
  schedulerRuns: "schedulerRuns",
  /**
   * `${chainId}_${step}_${attempt}`, created with create(): whoever creates it runs that step of
   * an hour's scheduler chain (a duplicate cron delivery finds it taken). Deleted by the
   * retention cleanup after 7 days (`claimedAt`).
   */
  schedulerChainSteps: "schedulerChainSteps",
  /** One per due slot (`${uid}_${dueAt}`): its lease, status and outcome. */
  coachingSlots: "coachingSlots",
  /**
   * `${slotId}_${leaseNumber}`, created with create() in one batch with each write of the slot
   * (claim, completion, release): whoever creates lease n owns the slot, and a run that was
   * taken over cannot write it any more.
   */
  coachingSlotLeases: "coachingSlotLeases",
  /** Every generation attempt; the approved message of a slot has the slot's id. */
  coachingMessages: "coachingMessages",
  /** `userInsights/{uid}`: insights derived from the journal; `summary` feeds the prompt. */
  userInsights: "userInsights",
  /** The outbox: one document per event (see core/events.ts). */
  events: "events",
  /** `${eventId}_${leaseNumber}`, created with create(): whoever creates lease n runs the event. */
  eventLeases: "eventLeases",
  /** Events that failed for good, by event id. */
  eventDeadLetters: "eventDeadLetters",
  /**
   * `eventStats/totals_${k}` (k < 64, and the old single `totals`): handler runs, successes,
   * errors, last run, kept with increments spread over the shards; `eventStats/straySweep`.
   */
  eventStats: "eventStats",
  /** `userProcessingState/{uid}`: status, phase, counters, rolling action and error logs. */
  userProcessingState: "userProcessingState",
  /**
   * `systemState/llmBreaker`: the LLM circuit breaker shared by all workers;
   * `systemState/adminDailyCounts`: the dashboard's figures for days that are over.
   */
  systemState: "systemState",
  /** `${openedAt}_${window}`, created with create(): the one probe call of a probe window after a cool-down. */
  llmBreakerProbes: "llmBreakerProbes",
  /**
   * Per-user LLM usage as versions before this one counted it; usage now lives on the processing
   * state (core/run-usage.ts). Named only so retention removes what is left of them.
   */
  llmUsage: "llmUsage",
  /** As `llmUsage`: the per-call admission tokens of earlier versions, left to expire. */
  llmQuotaTokens: "llmQuotaTokens",
  /**
   * `s${shard}_${minuteKey}`: one shard of a UTC minute's global LLM call budget
   * (`LLM_CALLS_PER_MINUTE`), its reservations in the array `reservations` (adapters/llm-ceiling-gate.ts).
   */
  llmCallCeiling: "llmCallCeiling",
  /** `userApiKeys/{uid}`: a user's own OpenRouter key, encrypted; never returned. */
  userApiKeys: "userApiKeys",
  /**
   * Admin sign-in guesses, created with create(): `${scope}_${windowStart}_${n}` is guess n of a
   * window for `scope` (`global`, or a hash of the address bucket); `${scope}_${windowStart}_full`
   * marks a spent window. `expiresAt` (a Timestamp) is for a TTL policy.
   */
  adminLoginThrottle: "adminLoginThrottle",
  /**
   * `emailSuppressions/{sha256 of the normalised address}`: addresses the outbox never emails (a
   * permanent bounce or a complaint reported by Resend's webhook) until an admin lifts them.
   */
  emailSuppressions: "emailSuppressions",
  /**
   * `resendWebhookDeliveries/{svix-id}`, created with create() in the batch that applies the
   * delivery's effects: a webhook delivered again (Resend retries, at least once) changes nothing.
   */
  resendWebhookDeliveries: "resendWebhookDeliveries",
  /**
   * `messageFeedback/{messageId}`, created with create(): the user's own word on a sent message
   * (helpful or not, an optional note), once per message.
   */
  messageFeedback: "messageFeedback",
  /** `{uid}_{32 hex of sha256(endpoint)}`: a browser's Web Push subscription (at most 10 a user). */
  pushSubscriptions: "pushSubscriptions",
  /**
   * `{messageId}_{subscriptionId}`, created with create() before the push is sent: one push per
   * subscription per message, whatever retries or crashes follow.
   */
  pushDeliveries: "pushDeliveries",
  /**
   * `metricsHourly/{YYYY-MM-DDTHH}` (UTC), created with create() by the rollup after a scheduler
   * tick: the hour's figures (core/metrics.ts), counted once; two rollups never both write one.
   */
  metricsHourly: "metricsHourly",
  /** `metricsDaily/{YYYY-MM-DD}`, created with create(): the sum of the day's hourly documents. */
  metricsDaily: "metricsDaily",
  /**
   * `metricsEngagement/{YYYY-MM-DD}`: opened, clicked and helpful counts of the messages sent that
   * day, per rating and per type, overwritten (absolute counts) while they can still move.
   */
  metricsEngagement: "metricsEngagement",
  /**
   * `alerts/{condition}_{YYYY-MM-DDTHH}` (UTC hour it fired), created with create() by the alert
   * evaluation after a scheduler tick or an outbox run (core/alerts.ts): a condition fires once
   * an hour, two evaluators never both fire it; `status` open or resolved.
   */
  alerts: "alerts",
  /** `alertState/evaluation`: what alert evaluations remember between them (dead letters seen, undrained chains). */
  alertState: "alertState",
  /**
   * `alertOpen/{condition}`: the claim of the condition's one open alert (`alertId`), created with
   * create() when it fires or reopens and deleted when it resolves, so evaluations either side of
   * an hour's turn (two alert ids) never both open one.
   */
  alertOpen: "alertOpen",
  /** Subcollection of `users/{uid}` written by the app; the engine adds its coaching entries. */
  journalEntries: "journalEntries",
} as const;

/** The top-level user field that drives every scheduling query. */
export const DUE_FIELD = "nextCoachingMessageDue";

/**
 * Engine-owned top-level user field written with every due time the engine writes: the order
 * inside a group of equal due times (core/due-rank.ts). The due query orders by (due, rank).
 */
export const RANK_FIELD = "coachingDueRank";

/**
 * Engine-owned top-level user field: equal to the due time while that due time only parks the
 * user (coaching off, unreadable document), so `user.coaching.enabled` can tell a park from a
 * real schedule. Stale (different from the due time) once anything reschedules the user.
 */
export const PARKED_FIELD = "coachingParkedUntil";

/**
 * Engine-owned top-level mirror of the app's nested `coachingConfig.enableCoachingMessages`, as
 * the engine last read it, written with the due times it writes (no write of its own): the
 * metrics count enabled users on it with an equality (the emulator cannot filter on a nested field).
 */
export const COACHING_ENABLED_FIELD = "coachingEnabled";
