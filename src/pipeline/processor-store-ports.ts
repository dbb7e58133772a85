/**
 * What the processor reads and writes per user: slots and their leases, messages, journal
 * entries, due times, insights and the processing state. Firestore and an in-memory twin sit
 * behind these in `adapters/`.
 */
import type { ContextUsed, JournalEntry, PastMessage } from "@/core/coaching-context";
import type { MessageType, RecommendedAction } from "@/core/coaching-message";
import type { LeaseRecord, SlotRecord } from "@/core/due-slot";
import type { EventRecord } from "@/core/events";
import type { UserInsights } from "@/core/insights";
import type { EntriesAfter } from "@/core/journal-scan";
import type { MessageLanguageSource } from "@/core/language";
import type { ProcessingPhase, ProcessingState, UserStatus } from "@/core/processing-state";
import type { ProcessingStateChange } from "@/core/processing-state-change";
import type { RiskLevel } from "@/core/risk";
import type { TimePreference } from "@/core/schedule";
import type { UserSnapshot } from "@/core/user";
import type { LlmCallRecord } from "./model-ports";

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
  /**
   * BCP 47 primary language subtag the message was asked for (docs/generation.md "Language"),
   * and whether it came from the user's `locale`, was detected, or is the default. Absent on
   * messages stored before languages were recorded (read as English).
   */
  language?: string;
  languageSource?: MessageLanguageSource;
  /**
   * The generation call's reading of the entries (docs/generation.md "Safety"): the highest level
   * of the run's drafts so far, and a short note for operators. Never shown to the user, never in
   * the email, push or journal entry. Null on an attempt without a draft; absent on messages stored
   * before risk was assessed.
   */
  riskLevel?: RiskLevel | null;
  riskReason?: string | null;
  /**
   * The OpenTelemetry trace of the run that stored the attempt (the scheduler tick's, which the
   * dispatch carried to the processor), for going from the admin's user page to the trace. Null
   * when tracing is off; absent on messages stored before tracing.
   */
  traceId?: string | null;
  promptVersion: string;
  /**
   * The prompt experiment's variant the attempt was generated with, `experiment/variant`
   * (core/prompt-experiments.ts `variantKey`; `experiment/control` for the current prompt); absent
   * when no experiment ran (and on messages stored before experiments).
   */
  promptVariant?: string | null;
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
   * `coachingEnabled`: the user's enable flag as the caller read it, stored in the same update as
   * the engine-owned mirror `coachingEnabled` (the metrics count on it); absent, left as it was.
   */
  setNextDue(input: {
    uid: string;
    nextCoachingMessageDue: number;
    missedWindows?: number;
    coachingEnabled?: boolean;
  }): Promise<void>;
  /**
   * Sets the enable flag's mirror (`coachingEnabled: true`) and nothing else: no due time, so it
   * cannot undo one written since the caller read the user (an admin's resume, the processor's
   * reschedule). A user deleted meanwhile stays deleted (nothing is written).
   */
  markCoachingEnabled(uid: string): Promise<void>;
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

/** The step boundaries of a run, reported as each completes (logging, tests that crash there). */
export type ProcessorStep =
  | "claimed"
  | "generated"
  | "attempt_stored"
  | "journal_entry_created"
  | "message_sent"
  | "slot_completed"
  | "rescheduled";
