/**
 * What processing one user needs from the outside world. The pipeline knows these interfaces
 * only; Firestore, OpenRouter and Resend sit behind them in `adapters/`.
 */
import type { ContextUsed, JournalEntry, PastMessage } from "@/core/coaching-context";
import type {
  GeneratedMessage,
  MessageType,
  OutcomeSimulation,
  RecommendedAction,
} from "@/core/coaching-message";
import type { LeaseRecord, SlotRecord } from "@/core/due-slot";
import type { EventRecord } from "@/core/events";
import type { JournalInsightsAnalysis, UserInsights } from "@/core/insights";
import type { EntriesAfter } from "@/core/journal-scan";
import type {
  ProcessingPhase,
  ProcessingState,
  ProcessingStateChange,
  UserStatus,
} from "@/core/processing-state";
import type { QuotaDecision, QuotaLimits } from "@/core/quota";
import type { UsageWindowCount } from "@/core/run-usage";
import type { TimePreference } from "@/core/schedule";
import type { UserSnapshot } from "@/core/user";

/** One LLM call as recorded on the message: what ran, what it cost, how it ended. */
export interface LlmCallRecord {
  purpose: "generation" | "regeneration" | "outcome_simulation" | "insights";
  model: string;
  /** Whose key paid: the user's own, or the engine's default. */
  keySource: "user" | "default";
  /** Set on a call that was retried on the default key because the user's key was rejected. */
  fallbackReason: string | null;
  ok: boolean;
  inputTokens: number | null;
  outputTokens: number | null;
  totalTokens: number | null;
  /** USD, when the provider reports it (OpenRouter does). */
  cost: number | null;
  durationMs: number;
  error: string | null;
}

export type LlmResult<Output> =
  | { ok: true; output: Output; call: LlmCallRecord }
  | {
      ok: false;
      retriable: boolean;
      reason: string;
      statusCode: number | null;
      /**
       * The provider could not serve the call (429, 5xx, a timeout, the network): not the user's
       * failure. Set by adapters that know; absent, it is judged from `retriable` and
       * `statusCode` (see core/circuit-breaker.ts `isProviderUnavailable`).
       */
      providerUnavailable?: boolean;
      call: LlmCallRecord;
      /** Set when no call was made because a quota is used up: when it frees. */
      quotaRetryAt?: number;
      /** Set when no call was made because the global LLM ceiling is spent: when it frees. */
      ceilingRetryAt?: number;
    };

export interface CoachModel {
  readonly generationModel: string;
  readonly scoringModel: string;
  generateMessage(input: {
    system: string;
    prompt: string;
    purpose: "generation" | "regeneration";
  }): Promise<LlmResult<GeneratedMessage>>;
  simulateOutcome(input: { system: string; prompt: string }): Promise<LlmResult<OutcomeSimulation>>;
  analyseJournal(input: { system: string; prompt: string }): Promise<LlmResult<JournalInsightsAnalysis>>;
}

export interface EmailToSend {
  to: string;
  subject: string;
  html: string;
  text: string;
  /** Same key, same email: the provider sends it once (Resend keeps keys for 24 h). */
  idempotencyKey: string;
  /** Extra headers (`List-Unsubscribe`); the values hold no CR/LF. */
  headers?: Record<string, string>;
}

export type EmailResult =
  | { ok: true; id: string }
  /** `outcomeUnknown`: the request may have been accepted (a timeout, a network error mid-call). */
  | { ok: false; retriable: boolean; reason: string; outcomeUnknown?: boolean };

export interface Mailer {
  send(email: EmailToSend): Promise<EmailResult>;
}

/** Push notifications; without a transport configured, delivery is recorded as not delivered. */
export interface PushTransport {
  send(notification: { uid: string; text: string; messageId: string }): Promise<
    | { delivered: true }
    /** `retriable`: a push service asked to try again (429, 5xx, no answer): the outbox retries. */
    | { delivered: false; reason: string; retriable?: boolean }
  >;
}

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

export interface CoachingEmailContent {
  displayName: string | null;
  messageContent: string;
  pushNotificationText: string | null;
  journalEntryUrl: string | null;
  preferencesUrl: string;
  /** The one-click unsubscribe page for this email; null when unsubscribe links are off. */
  unsubscribeUrl?: string | null;
  /** BCP 47 language of the email's own words (src/core/email-strings.ts); absent: English. */
  language?: string | null;
  /** When the message was written, shown in the user's language and `timeZone`; absent: no date line. */
  writtenAt?: number | null;
  /** IANA zone for `writtenAt`, the user's `timezone`. */
  timeZone?: string | null;
}

export type EmailRenderer = (content: CoachingEmailContent) => Promise<RenderedEmail>;

/** `suppressed`: not sent, the address is on the suppression list (a hard bounce or a complaint). */
export type DeliveryStatus = "pending" | "sent" | "failed" | "skipped" | "suppressed";

/** A `coachingMessages` document: every generation attempt, sent or not (docs/data-model.md). */
export interface StoredMessage {
  id: string;
  uid: string;
  slotId: string;
  createdAt: number;
  updatedAt: number;
  /** approved: passed the gate, delivery under way; sent: in the journal and delivered. */
  status: "approved" | "sent" | "rejected" | "failed";
  messageContent: string;
  messageType: MessageType | null;
  pushNotificationText: string | null;
  /** The draft before REVISE_MESSAGE replaced it, when it did. */
  originalMessageContent: string | null;
  effectivenessRating: number | null;
  recommendedAction: RecommendedAction | null;
  outcomeReasoning: string | null;
  wasSent: boolean;
  sentAt: number | null;
  journalEntryId: string | null;
  contextUsed: ContextUsed | null;
  /** 1-based attempt number within the slot, across leases. */
  generationAttempt: number;
  failureReason: string | null;
  userTimezone: string;
  userTimePreference: TimePreference;
  /** The due time of the slot this message answers. */
  scheduledFor: number;
  promptVersion: string;
  model: { generation: string; scoring: string };
  llmCalls: LlmCallRecord[];
  tokenUsage: { inputTokens: number; outputTokens: number; totalTokens: number; cost: number | null };
  delivery: {
    email: {
      status: DeliveryStatus;
      providerId: string | null;
      error: string | null;
      attemptedAt: number | null;
      /**
       * When an attempt first ended without knowing whether Resend accepted the email (absent or
       * null: never). Retries reuse the idempotency key, which Resend keeps only 24 h.
       */
      outcomeUnknownSince?: number | null;
    };
    push: { status: DeliveryStatus | "not_delivered"; text: string | null; reason?: string | null };
  };
  /**
   * Resend's id of the email sent, top-level (queried: a webhook finds its message by it; the
   * emulator cannot filter on a nested field). Absent until an email is sent.
   */
  emailProviderId?: string | null;
  /**
   * What Resend's webhooks reported about the email (delivered, opened, clicked, bounced, ...),
   * kept apart from `delivery`, which the outbox writes whole. How many deliveries of each kind
   * arrived is in top-level `email<Kind>Count` fields (`emailOpenedCount`, ...): the emulator
   * cannot increment inside a map.
   */
  emailEvents?: Partial<Record<EmailEventKind, EmailEventRecord>>;
  /** True once a push service took the push for one of the user's browsers (engagement counts). */
  pushDelivered?: boolean;
  /** True once Resend reported the email opened (the webhook). */
  emailOpened?: boolean;
  /** The user's feedback (the feedback API): helpful or not. */
  feedbackHelpful?: boolean;
}

/** The email events of Resend's webhooks recorded on a message. */
export type EmailEventKind =
  | "delivered"
  | "delivery_delayed"
  | "opened"
  | "clicked"
  | "bounced"
  | "complained"
  | "failed";

export interface EmailEventRecord {
  firstAt: number;
  lastAt: number;
  /** The bounce type or the failure reason Resend gave, when it gave one. */
  detail?: string | null;
}

export interface CoachingJournalEntry {
  content: string;
  createdAt: number;
  title: string;
  /** Tells the engine's entries apart from the user's own. */
  isCoachingMessage: true;
  source: "coaching-engine";
  format: "markdown";
  coachingMessageId: string;
  messageType: MessageType;
  pushNotificationText: string | null;
}

export interface ProcessorStore extends InsightsStore {
  getUser(uid: string): Promise<UserSnapshot | null>;
  getSlot(slotId: string): Promise<SlotRecord | null>;
  /**
   * The fenced write of a slot: claims, completions and releases all go through it, so a worker
   * whose lease was taken over can no longer write the slot (see core/due-slot.ts). Lease 1 of a
   * new slot is the slot's own `create()` (one document); every later lease creates lease document
   * `slot.leaseNumber` and writes the slot, in one batch with the `create()` first. "taken" when
   * that slot or lease already exists (and then nothing is written). The other write of a slot is
   * its completion in `storeSentMessage`'s batch.
   *
   * `claimToken` (one per run) is written into the lease and the slot. A slot or lease that exists
   * already and holds the caller's own token is reported "claimed": the client library retries a
   * commit whose answer was lost, and the retry of a batch that did apply finds its own write
   * (ALREADY_EXISTS).
   */
  claimSlot(input: {
    slot: SlotRecord;
    purpose: "claim" | "complete" | "release";
    now: number;
    claimToken: string;
  }): Promise<"claimed" | "taken">;
  /** Lease `leaseNumber` of the slot, read back after a lost claim. */
  getLease(input: { slotId: string; leaseNumber: number }): Promise<LeaseRecord | null>;
  /** The user's running slots, oldest due first. */
  listOpenSlots(input: { uid: string; limit: number }): Promise<SlotRecord[]>;
  /**
   * The user's own entries (not coaching ones), newest first: up to `limit`, reading past coaching
   * entries in bounded pages (see core/journal-scan.ts), so fewer when the bound is reached.
   */
  listJournalEntries(input: { uid: string; limit: number }): Promise<JournalEntry[]>;
  /** The user's sent coaching messages, newest first. */
  listRecentMessages(input: { uid: string; limit: number }): Promise<PastMessage[]>;
  /**
   * Running slots of any user whose lease expired before `leaseExpiredBefore`, oldest first: runs
   * that died and that no run took over, for the sweep that closes them.
   */
  listStaleRunningSlots(input: { leaseExpiredBefore: number; limit: number }): Promise<SlotRecord[]>;
  getMessage(messageId: string): Promise<StoredMessage | null>;
  /** Stores a rejected or failed attempt (its id is unique to the attempt). */
  saveMessage(message: StoredMessage): Promise<void>;
  /** Creates the slot's approved message; "exists" when another worker's message already stands. */
  createMessage(message: StoredMessage): Promise<"created" | "exists">;
  updateMessage(messageId: string, patch: Partial<StoredMessage>): Promise<void>;
  /**
   * Marks the message sent and creates its delivery event, in one batch with the event's
   * `create()` first (the transactional outbox): email and push exist only for a sent message.
   * When the event already exists (a concurrent run, or one written with the approved message by
   * an older version) the message is still marked sent; "event_existed" says so.
   */
  markMessageSent(input: {
    messageId: string;
    patch: Partial<StoredMessage>;
    deliveryEvent: EventRecord;
  }): Promise<"created" | "event_existed">;
  /**
   * Stores a slot's approved message already sent (status "sent", `journalEntryId` set) with its
   * journal entry and its delivery event, and completes the slot (`completedSlot`, written with
   * `claimToken`), in one batch with the message's `create()` first: all or nothing, so email and
   * push exist only for a message that is sent and in the journal, and a slot that holds a message
   * is completed. The message's `create()` is the completion's fence: whichever run stores the
   * slot's one message completes the slot, with no lease document.
   * "exists" (nothing written) when the slot's message already stands: another run's, or this
   * run's own batch that applied but reported failure (the slot then names this run).
   */
  storeSentMessage(input: {
    message: StoredMessage;
    journalEntry: { entryId: string; entry: CoachingJournalEntry };
    deliveryEvent: EventRecord;
    completedSlot: SlotRecord;
    claimToken: string;
  }): Promise<"created" | "exists">;
  /** Creates the delivery event of a message already sent, unless it exists. */
  ensureDeliveryEvent(deliveryEvent: EventRecord): Promise<"created" | "exists">;
  createJournalEntry(input: {
    uid: string;
    entryId: string;
    entry: CoachingJournalEntry;
  }): Promise<"created" | "exists">;
  /**
   * Writes the due time with its rank (`coachingDueRank`, core/due-rank.ts). `missedWindows`:
   * windows the user has now missed in a row without a message (e.g. moved to the next window
   * because the window closed first), ranking them first in their next group of equal due times.
   */
  setNextDue(input: { uid: string; nextCoachingMessageDue: number; missedWindows?: number }): Promise<void>;
}

export interface Prompts {
  messageGeneration: { text: string; version: string };
  outcomeSimulation: { text: string; version: string };
  journalInsights: { text: string; version: string };
}

/** The step boundaries of a run, reported as each completes (logging, tests that crash there). */
export type ProcessorStep =
  | "claimed"
  | "generated"
  | "attempt_stored"
  | "journal_entry_created"
  | "message_sent"
  | "slot_completed"
  | "rescheduled";

/** The LLM circuit breaker as the processor uses it. */
export interface LlmBreaker {
  /** closed: call; open: do not; probe: call, as the one probe after a cool-down. */
  acquire(now: number): Promise<"closed" | "open" | "probe">;
  recordSuccess(now: number): Promise<void>;
  recordFailure(now: number, error: string): Promise<void>;
  /**
   * Gives back a probe this instance acquired and has not reported (success or failure), so
   * the next acquire can probe at once; a no-op when nothing is held. Every exit path of a
   * run that acquired "probe" reports or releases it.
   */
  releaseProbe(now: number): Promise<void>;
}

export interface ProcessingStateStore {
  getState(uid: string): Promise<ProcessingState | null>;
  /**
   * Marks a run as started at its claim, without reading (one write): the run counts as a
   * failure (`consecutiveFailures` + 1) and as unfinished (`unfinishedRuns` + 1) until
   * `finishRun` says otherwise, so a run that is killed still counts. Call once per claimed run.
   */
  markRunning(input: {
    uid: string;
    phase: ProcessingPhase;
    status: UserStatus;
    currentSlotId: string;
    now: number;
  }): Promise<void>;
  /** Applies a change field by field (counters by atomic increment); creates the state if missing. */
  updateState(input: { uid: string; change: ProcessingStateChange; now: number }): Promise<void>;
  /** Writes the engine-owned `suspendUntil` on the user document (null lifts it). */
  setUserSuspension(input: { uid: string; suspendUntil: number | null }): Promise<void>;
}

/** One window of a pool's usage (core/run-usage.ts). */
export type UsageWindow = UsageWindowCount;

/**
 * Per-user LLM quotas, over the usage kept on each user's processing state (core/run-usage.ts).
 * Calls on the user's own key and on the engine's default key are counted apart (`keySource`):
 * each against its own limits, so a fallback to the default key spends the default-key allowance
 * and budget. A run is admitted whole, before its first call, and recorded once.
 */
export interface QuotaGate {
  usage(input: {
    uid: string;
    now: number;
    keySource: LlmCallRecord["keySource"];
  }): Promise<{ minute: UsageWindow; day: UsageWindow; month: UsageWindow }>;
  /**
   * One check for a whole run's `calls` (a processor run, an insights event), against the usage
   * recorded so far. It reserves nothing, so runs of one user that overlap (rare: a user's slot
   * runs are serialised by the lease) may each pass and together overshoot a window by at most
   * the calls of the runs in flight.
   */
  admitRun(input: {
    uid: string;
    now: number;
    limits: QuotaLimits;
    keySource: LlmCallRecord["keySource"];
    calls: number;
  }): Promise<QuotaDecision>;
  /** Records a run's calls and their tokens and cost at once (increments, one write). */
  recordRun(input: {
    uid: string;
    now: number;
    keySource: LlmCallRecord["keySource"];
    requests: number;
    inputTokens: number;
    outputTokens: number;
    cost: number;
  }): Promise<void>;
}

/**
 * The model for one run: the calls it expects are admitted once (per-user quota, global
 * ceiling) before the first, and its usage is recorded once by `settle`, which every run calls
 * when its LLM work is over (also after a throw).
 */
export interface RunModel {
  model: CoachModel;
  settle(): Promise<void>;
  /**
   * Whether the user has a key document of their own, when the resolver looked (absent when it
   * did not): the run records it on the processing state, so later runs can skip the lookup.
   */
  ownKeyStored?: boolean;
}

/**
 * Resolves the model for one user's run; `expectedCalls` are admitted at once, before the first.
 * `ownKeyAbsent`: the processing state says the user has no key of their own, so no lookup.
 */
export type ResolveRunModel = (input: {
  uid: string;
  now: number;
  expectedCalls: number;
  ownKeyAbsent?: boolean;
  /**
   * The run's own quota gate: a processor run's decides from the processing state it read at its
   * claim and records with the write that ends the run (pipeline/state-quota.ts). The wiring's
   * gate otherwise.
   */
  quota?: QuotaGate;
}) => Promise<RunModel>;

/** The model a user's run uses: their own key (with the default behind it) or the default. */
export interface ResolvedModel {
  model: CoachModel;
  keySource: "user" | "default";
  limits: QuotaLimits;
}

export interface InsightsStore {
  getInsights(uid: string): Promise<UserInsights | null>;
  saveInsights(insights: UserInsights): Promise<void>;
  /**
   * The user's own entries written after `after`, oldest first, and how far the read got: coaching
   * and malformed entries are skipped, and `readThrough` moves past them (core/journal-scan.ts).
   */
  listEntriesAfter(input: { uid: string; after: number; limit: number }): Promise<EntriesAfter>;
}

/** What the global LLM ceiling answers: admitted, or spent until `retryAt` (the next minute). */
export type CeilingDecision = { admitted: true } | { admitted: false; retryAt: number; reason: string };

/**
 * The global ceiling on LLM calls per minute across every processor invocation
 * (`LLM_CALLS_PER_MINUTE`). Exact: over any UTC minute, the calls admitted never exceed the
 * limit, whatever the concurrency; a reservation is all or nothing.
 */
export interface LlmCallCeiling {
  /** The calls per minute it admits. */
  readonly callsPerMinute: number;
  /** Takes `calls` calls from the budget of `now`'s minute; `seed` spreads callers over shards. */
  reserve(input: { calls: number; now: number; seed: string }): Promise<CeilingDecision>;
}

/** One minute of the ceiling's use, for the dashboard. */
export interface CeilingMinute {
  /** Start of the UTC minute (ms). */
  minuteStart: number;
  calls: number;
  limit: number;
}
