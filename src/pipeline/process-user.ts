/**
 * Processing one user's due slot, end to end: claim, context, generation, outcome simulation,
 * quality gate, storage with the delivery event, journal entry, reschedule. Delivery itself
 * (email, push) is the outbox's job (process-events.ts).
 *
 * Exactly once per slot (docs/guarantees.md) comes from construction, not from transactions:
 * - the slot is owned through a `create()`-claimed lease (see core/due-slot.ts);
 * - the approved message has the slot's id and is created with `create()`, so two workers can
 *   never store two approved messages for one slot (the loser carries on with the winner's);
 * - the journal entry id is derived from the slot id and created with `create()`;
 * - the delivery event (email, push) is created in the same batch as the message's move to
 *   "sent", after the journal entry, with an id derived from the slot id: a message is emailed
 *   only once it is in the journal, and at most once;
 * - the slot records its outcome and next due time before the user is rescheduled, so a run
 *   that died between the two finishes the reschedule next time;
 * - every slot write takes the next lease number with `create()` in the same batch, so a run
 *   whose lease expired and was taken over cannot complete or release the slot (the fence).
 * A worker that dies mid-slot leaves the user due at the slot's time; once the lease expires the
 * next run resumes the slot from the last completed step — and a slot holding an approved
 * message is resumed before anything new is generated for that user, inside the window or not.
 */
import { randomUUID } from "node:crypto";
import { isProviderUnavailable } from "@/core/circuit-breaker";
import {
  buildCoachingContext,
  type CoachingContext,
  describeContext,
  MAX_JOURNAL_ENTRIES,
  renderGenerationPrompt,
  renderOutcomePrompt,
} from "@/core/coaching-context";
import { type GeneratedMessage, MESSAGE_MAX_LENGTH, PUSH_TEXT_MAX_LENGTH } from "@/core/coaching-message";
import { missedWindowsOf } from "@/core/due-rank";
import {
  type ClaimDecision,
  decideClaim,
  decideClaimAfterConflict,
  decideProcessing,
  dueSlotId,
  isDeferral,
  type SkipReason,
  type SlotOutcome,
  type SlotRecord,
} from "@/core/due-slot";
import { describeError } from "@/core/errors";
import { EVENT_TYPES, messageCreatedEventId, newEvent } from "@/core/events";
import { escapeMarkdown, sanitiseModelText, toSingleLine } from "@/core/message-text";
import type { SuspensionPolicy } from "@/core/processing-state";
import { applyQualityGate } from "@/core/quality-gate";
import { nextDueAfterSuccess, retryDueAt } from "@/core/schedule";
import { checkNovelty, NOVELTY_WINDOW } from "@/core/similarity";
import { type CoachingUser, isCoachingEnabled, scheduleSettingsOf } from "@/core/user";
import {
  finishRun,
  logAction,
  logPhase,
  newRunLog,
  type RunEnding,
  type RunLog,
  recordDuplicate,
  startRun,
} from "./processing-log";
import type {
  CoachingJournalEntry,
  CoachModel,
  LlmBreaker,
  LlmCallRecord,
  LlmResult,
  ProcessingStateStore,
  ProcessorStep,
  ProcessorStore,
  Prompts,
  StoredMessage,
} from "./processor-ports";
import { refreshInsights } from "./refresh-insights";

export interface ProcessorDeps {
  store: ProcessorStore;
  model: CoachModel;
  prompts: Prompts;
  /** How long a claim holds a slot; above the processor route's maxDuration, so a live run keeps it. */
  leaseMs: number;
  /** Called after each step completes. A throw here stops the run as a crash would. */
  onStep?: (step: ProcessorStep, slotId: string) => void | Promise<void>;
  /** Per-user processing state; without it nothing is recorded. */
  stateStore?: ProcessingStateStore;
  suspension: SuspensionPolicy;
  /** The LLM circuit breaker; without it every call is made. */
  breaker?: LlmBreaker;
  /** The model for one user's run (their own key, quotas); without it `model` is used as is. */
  resolveModel?: (uid: string, now: number) => Promise<CoachModel>;
  /** Analyse new journal entries into insights before generating, when they are stale. */
  refreshInsightsBeforeGeneration?: boolean;
  /** Problems the run carried on past (a breaker write that failed); the logger in production. */
  warn?: (message: string, context: Record<string, unknown>) => void;
}

export type AcceptResult =
  | { kind: "not_found" }
  | { kind: "skipped"; reason: SkipReason; nextCoachingMessageDue?: number }
  | { kind: "busy"; slotId: string }
  | { kind: "already_completed"; slotId: string; outcome: SlotOutcome | null }
  | { kind: "claimed"; claim: ClaimedSlot };

export interface ClaimedSlot {
  slot: SlotRecord;
  user: CoachingUser;
  /**
   * This run's token, written into every lease it creates (claim, completion, release), so a
   * write whose commit applied but came back "exists" on the client's retry is known as its own.
   */
  claimToken: string;
  /** Windows the user had missed in a row when claimed (from their due rank, core/due-rank.ts). */
  missedWindows: number;
  /** What this run did, for the user's processing state. */
  log: RunLog;
}

export interface ProcessOutcome {
  slotId: string;
  messageGenerated: boolean;
  outcome: SlotOutcome;
  messageId: string | null;
  nextCoachingMessageDue: number;
  failureReason: string | null;
  /** The outbox event that delivers the message (email, push), when one was stored. */
  deliveryEventId: string | null;
  /**
   * The run's lease expired and another run took the slot over before this one completed it:
   * nothing of this outcome was recorded (slot, reschedule, processing state); the other run's stands.
   */
  superseded: boolean;
}

/** The journal entry of a slot's message; derived, so creating it twice is a no-op. */
export function coachingJournalEntryId(slotId: string): string {
  return `coaching_${slotId}`;
}

async function step(
  deps: ProcessorDeps,
  name: ProcessorStep,
  claim: ClaimedSlot,
  now: number,
  messageId?: string,
) {
  logAction(claim.log, { timestamp: now, action: name, messageId: messageId ?? null });
  await deps.onStep?.(name, claim.slot.slotId);
}

/** How many open slots to look through for an approved message; a user normally has none or one. */
const OPEN_SLOT_LOOKUP_LIMIT = 3;
/** Lost claims to read back and retry before answering "busy" (each loss means progress by another run). */
const MAX_CLAIM_ATTEMPTS = 3;

/**
 * Looks through the user's running slots, oldest first, by query rather than by the user's due
 * time (which an older scheduler, or a reschedule outside the window, may have moved since).
 * Returns the first that holds an approved message (the slot's message has the slot's id), to be
 * resumed before anything new. Closes, on the way, the ones nothing will ever resume: no message,
 * lease expired, and the user's due time has moved away from them (the run died before approval
 * and the user was rescheduled, or a forced run died), so they neither stay "running" forever nor
 * crowd this bounded lookup. The close is fenced like any slot write.
 */
async function reviewOpenSlots(
  deps: ProcessorDeps,
  {
    uid,
    currentDue,
    now,
    claimToken,
  }: { uid: string; currentDue: number | null | undefined; now: number; claimToken: string },
): Promise<SlotRecord | null> {
  const open = await deps.store.listOpenSlots({ uid, limit: OPEN_SLOT_LOOKUP_LIMIT });
  for (const slot of open) {
    if (await deps.store.getMessage(slot.slotId)) return slot;
    if (slot.leaseUntil <= now && slot.dueAt !== currentDue) {
      await deps.store.claimSlot({
        slot: underNextLease(slot, now, {
          status: "completed",
          outcome: "generation_failed",
          failureReason:
            "abandoned: the run stopped before a message was approved, and the user was rescheduled",
        }),
        purpose: "complete",
        now,
        claimToken,
      });
    }
  }
  return null;
}

/**
 * Re-checks the user and claims their due slot. Fast (a few reads and one batched `create()`),
 * so the route can answer before generation starts.
 */
export async function acceptUserRun({
  deps,
  uid,
  now,
  bypassChecks = false,
}: {
  deps: ProcessorDeps;
  uid: string;
  now: number;
  bypassChecks?: boolean;
}): Promise<AcceptResult> {
  const { store } = deps;
  const claimToken = randomUUID();
  const snapshot = await store.getUser(uid);
  if (!snapshot) return { kind: "not_found" };
  const openSlot =
    snapshot.valid && isCoachingEnabled(snapshot)
      ? await reviewOpenSlots(deps, { uid, currentDue: snapshot.nextCoachingMessageDue, now, claimToken })
      : null;
  const decision = decideProcessing({ snapshot, now, bypassChecks, openSlot: openSlot ?? undefined });
  if (decision.action === "skip") {
    if (decision.nextCoachingMessageDue !== undefined) {
      // Moved on without a message: one more missed window puts the user earlier in the next one.
      await store.setNextDue({
        uid,
        nextCoachingMessageDue: decision.nextCoachingMessageDue,
        missedWindows: decision.reason === "outside_window" ? missedWindowsOf(snapshot.dueRank) + 1 : 0,
      });
    }
    return {
      kind: "skipped",
      reason: decision.reason,
      nextCoachingMessageDue: decision.nextCoachingMessageDue,
    };
  }
  if (!snapshot.valid) return { kind: "skipped", reason: "invalid_document" };
  const user = snapshot.user;
  const slotId = dueSlotId({ uid, dueAt: decision.dueAt });
  let existing = openSlot?.slotId === slotId ? openSlot : await store.getSlot(slotId);
  let claim: ClaimDecision = decideClaim({ slot: existing, now });
  let slot: SlotRecord;
  for (let attempt = 1; ; attempt += 1) {
    if (claim.kind === "busy") {
      await recordDuplicate(deps, { uid, now, reason: `slot ${slotId} is being processed` });
      return { kind: "busy", slotId };
    }
    if (claim.kind === "completed") {
      await recordDuplicate(deps, { uid, now, reason: `slot ${slotId} was already processed` });
      // The run that completed the slot may have died before rescheduling the user.
      if (snapshot.nextCoachingMessageDue === claim.slot.dueAt) {
        await store.setNextDue({
          uid,
          nextCoachingMessageDue: dueAfterOutcome(claim.slot, user, now),
          missedWindows: missedWindowsAfter(claim.slot.outcome, missedWindowsOf(snapshot.dueRank)),
        });
      }
      return { kind: "already_completed", slotId, outcome: claim.slot.outcome };
    }
    const candidate: SlotRecord = {
      slotId,
      uid,
      dueAt: decision.dueAt,
      forced: decision.forced,
      status: "running",
      leaseNumber: claim.leaseNumber,
      leaseUntil: now + deps.leaseMs,
      outcome: null,
      messageId: null,
      nextCoachingMessageDue: null,
      failureReason: null,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    // One batch: the lease create() and the slot write commit together or not at all.
    if ((await store.claimSlot({ slot: candidate, purpose: "claim", now, claimToken })) === "claimed") {
      slot = candidate;
      break;
    }
    if (attempt === MAX_CLAIM_ATTEMPTS) {
      await recordDuplicate(deps, { uid, now, reason: `slot ${slotId} was claimed by another run` });
      return { kind: "busy", slotId };
    }
    // Lost the lease: read back what won it (a live run, or a claim an older version left half-written).
    const lost = claim.leaseNumber;
    const [current, lease] = await Promise.all([
      store.getSlot(slotId),
      store.getLease({ slotId, leaseNumber: lost }),
    ]);
    existing = current;
    claim = decideClaimAfterConflict({ slot: current, lease, leaseNumber: lost, now, leaseMs: deps.leaseMs });
  }
  // The run counts from its claim, so runs that are always killed still reach the failure limit;
  // at the limit the user is suspended here, before any LLM call, and the slot is closed with it.
  const suspension = await startRun(deps, {
    uid,
    slotId,
    now,
    resumesApprovedMessage: openSlot?.slotId === slotId,
  });
  if (suspension) {
    await store.claimSlot({
      slot: underNextLease(slot, now, {
        status: "completed",
        outcome: "generation_failed",
        nextCoachingMessageDue: suspension.suspendUntil,
        failureReason: `suspended: ${suspension.suspendReason}`,
      }),
      purpose: "complete",
      now,
      claimToken,
    });
    return { kind: "skipped", reason: "suspended", nextCoachingMessageDue: suspension.suspendUntil };
  }
  const claimed: ClaimedSlot = {
    slot,
    user,
    claimToken,
    missedWindows: missedWindowsOf(snapshot.dueRank),
    log: newRunLog(),
  };
  logPhase(claimed.log, "building_context");
  await step(deps, "claimed", claimed, now);
  return { kind: "claimed", claim: claimed };
}

/**
 * Windows missed in a row after a slot's outcome: one more after a deferral (breaker open, quota,
 * provider unavailable), so the user comes first among equal due times next; none otherwise.
 */
function missedWindowsAfter(outcome: SlotOutcome | null, missedBefore: number): number {
  return isDeferral(outcome) ? missedBefore + 1 : 0;
}

function dueAfterOutcome(slot: SlotRecord, user: CoachingUser, now: number): number {
  if (slot.nextCoachingMessageDue !== null && slot.nextCoachingMessageDue > now)
    return slot.nextCoachingMessageDue;
  const settings = scheduleSettingsOf(user);
  return slot.outcome === "sent"
    ? nextDueAfterSuccess({ now, ...settings })
    : retryDueAt({ now, frequency: settings.frequency });
}

/**
 * How a failed LLM call ends the slot. The provider failing the engine's default key is an outage,
 * not the user's failure (a deferral). On the user's own key it is their failure like any other
 * and counts towards their suspension: their key's limits, or a context that times out every run,
 * must not defer them forever. (A key rejection, 429 included, never ends a run on the own key:
 * the call is made again on the default key, and that call's outcome is the one judged here.)
 */
type CallFailureOutcome = "generation_failed" | "provider_unavailable";

function callFailureOutcome(result: Extract<LlmResult<unknown>, { ok: false }>): CallFailureOutcome {
  return result.call.keySource === "default" && isProviderUnavailable(result)
    ? "provider_unavailable"
    : "generation_failed";
}

type Approval =
  | { ok: true; message: StoredMessage }
  | { ok: false; outcome: "gate_failed" | CallFailureOutcome | "breaker_open"; reason: string }
  | { ok: false; outcome: "quota_exceeded"; reason: string; retryAt: number };

/** Over quota: no call was made; the user comes back when the quota frees. Nothing is stored. */
function quotaStop(result: { quotaRetryAt?: number } | undefined, reason: string): Approval {
  return { ok: false, outcome: "quota_exceeded", reason, retryAt: result?.quotaRetryAt ?? 0 };
}

interface AttemptBase {
  context: CoachingContext;
  slot: SlotRecord;
  now: number;
  calls: LlmCallRecord[];
}

function sumUsage(calls: readonly LlmCallRecord[]): StoredMessage["tokenUsage"] {
  const costs = calls.map((call) => call.cost).filter((cost): cost is number => cost !== null);
  return {
    inputTokens: calls.reduce((total, call) => total + (call.inputTokens ?? 0), 0),
    outputTokens: calls.reduce((total, call) => total + (call.outputTokens ?? 0), 0),
    totalTokens: calls.reduce((total, call) => total + (call.totalTokens ?? 0), 0),
    cost: costs.length ? costs.reduce((total, cost) => total + cost, 0) : null,
  };
}

function messageRecord(
  deps: ProcessorDeps,
  { context, slot, now, calls }: AttemptBase,
  fields: Pick<StoredMessage, "id" | "status" | "generationAttempt" | "failureReason"> &
    Partial<StoredMessage>,
): StoredMessage {
  const { user } = context;
  return {
    uid: user.uid,
    slotId: slot.slotId,
    createdAt: now,
    updatedAt: now,
    messageContent: "",
    messageType: null,
    pushNotificationText: null,
    originalMessageContent: null,
    effectivenessRating: null,
    recommendedAction: null,
    outcomeReasoning: null,
    wasSent: false,
    sentAt: null,
    journalEntryId: null,
    contextUsed: describeContext(context),
    userTimezone: user.timezone,
    userTimePreference: user.coachingConfig.timePreference,
    scheduledFor: slot.dueAt,
    promptVersion: `${deps.prompts.messageGeneration.version}+${deps.prompts.outcomeSimulation.version}`,
    model: { generation: deps.model.generationModel, scoring: deps.model.scoringModel },
    llmCalls: [...calls],
    tokenUsage: sumUsage(calls),
    delivery: {
      email: { status: "pending", providerId: null, error: null, attemptedAt: null },
      push: { status: "pending", text: null },
    },
    ...fields,
  };
}

/** Model output made safe to store and show: no links, images, markup or control characters. */
function sanitiseGenerated(output: GeneratedMessage): GeneratedMessage {
  return {
    messageType: output.messageType,
    messageContent: sanitiseModelText(output.messageContent, { maxLength: MESSAGE_MAX_LENGTH }),
    pushNotificationText: toSingleLine(output.pushNotificationText, PUSH_TEXT_MAX_LENGTH),
  };
}

/**
 * Asks the breaker, then generates (see `generateUnderBreaker`). A run that acquired the one
 * probe and leaves without reporting a call's result (a quota stop, a throw anywhere before the
 * call) gives the probe back here, in one place, so the breaker never waits on a probe nobody runs.
 */
async function generateApprovedMessage(
  deps: ProcessorDeps,
  claim: ClaimedSlot,
  now: number,
): Promise<Approval> {
  // While the breaker is open no call is made: the slot gets the retry interval and no attempt is stored.
  const gate = (await deps.breaker?.acquire(now)) ?? "closed";
  if (gate === "open") {
    return { ok: false, outcome: "breaker_open", reason: "LLM circuit breaker is open; no call made" };
  }
  const probe = { unreported: gate === "probe" };
  try {
    return await generateUnderBreaker(deps, claim, now, probe);
  } finally {
    // A release that fails is bounded by the probe's own expiry; the run's outcome or error stands.
    if (probe.unreported) await deps.breaker?.releaseProbe(now).catch(() => undefined);
  }
}

/**
 * Generates, checks novelty (one regeneration when too close to a recent message), simulates
 * the outcome and applies the gate. Every attempt that does not pass is stored as its own
 * `coachingMessages` document; the one that passes is returned, not yet stored.
 */
async function generateUnderBreaker(
  deps: ProcessorDeps,
  claim: ClaimedSlot,
  now: number,
  probe: { unreported: boolean },
): Promise<Approval> {
  const { store, prompts } = deps;
  const { slot, user } = claim;
  const model = deps.resolveModel ? await deps.resolveModel(user.uid, now) : deps.model;
  const [entries, recentMessages, storedInsights] = await Promise.all([
    store.listJournalEntries({ uid: user.uid, limit: MAX_JOURNAL_ENTRIES }),
    store.listRecentMessages({ uid: user.uid, limit: NOVELTY_WINDOW }),
    store.getInsights(user.uid),
  ]);
  const calls: LlmCallRecord[] = [];
  // Insights are refreshed first when entries were written since the last analysis (one batch
  // here; the journal.entry.created event does the rest). A failed refresh keeps the old ones.
  let insights = storedInsights;
  const newestEntryAt = entries[0]?.createdAt ?? 0;
  if (deps.refreshInsightsBeforeGeneration && newestEntryAt > (insights?.analysedThrough ?? 0)) {
    const refreshed = await refreshInsights({
      store,
      model,
      prompts,
      uid: user.uid,
      now,
      // One batch: part of MAX_LLM_CALLS_PER_RUN (core/due-slot.ts), which LLM_TIMEOUT_MS is checked against.
      maxBatches: 1,
      known: insights,
    });
    calls.push(...refreshed.calls);
    insights = refreshed.insights;
    if (refreshed.status === "over_quota")
      return quotaStop({ quotaRetryAt: refreshed.retryAt }, refreshed.reason);
  }
  const context = buildCoachingContext({
    user,
    now,
    entries,
    recentMessages,
    insightsSummary: insights?.summary,
  });
  // Best-effort: the breaker is one shared document, and a write to it that fails (contention,
  // an outage) must never turn a generated draft into a failed slot. A probe whose result could
  // not be stored stays unreported, so it is released when the run ends and the next run probes.
  // Only calls on the engine's default key are reported: the breaker guards that key, and one
  // user's own key (rate-limited, slow) must neither open it for everyone nor close it.
  const reportCall = async (result: LlmResult<unknown>) => {
    if (!deps.breaker || result.call.keySource !== "default") return;
    try {
      if (result.ok) await deps.breaker.recordSuccess(now);
      else await deps.breaker.recordFailure(now, result.reason);
      probe.unreported = false;
    } catch (error) {
      const detail = `LLM breaker not updated: ${describeError(error)}`;
      logAction(claim.log, {
        timestamp: now,
        action: "breaker_report_failed",
        details: detail,
        success: false,
      });
      deps.warn?.("LLM breaker not updated; the run carries on", {
        slotId: slot.slotId,
        error: describeError(error),
      });
    }
  };
  const base: AttemptBase = { context, slot, now, calls };
  let attempt = 0;
  const attemptId = () => `${slot.slotId}_${slot.leaseNumber}_${attempt}`;
  const reject = async (
    outcome: "gate_failed" | CallFailureOutcome,
    reason: string,
    fields: Partial<StoredMessage> = {},
  ): Promise<Approval> => {
    await store.saveMessage(
      messageRecord(deps, base, {
        id: attemptId(),
        status: outcome === "gate_failed" ? "rejected" : "failed",
        generationAttempt: attempt,
        failureReason: reason,
        ...fields,
      }),
    );
    return { ok: false, outcome, reason };
  };

  let rejectedDraft: { draft: string; reason: string } | undefined;
  let candidate: GeneratedMessage | undefined;
  while (candidate === undefined) {
    attempt += 1;
    logPhase(claim.log, "generating");
    const generation = await model.generateMessage({
      system: prompts.messageGeneration.text,
      prompt: renderGenerationPrompt(context, rejectedDraft),
      purpose: rejectedDraft ? "regeneration" : "generation",
    });
    calls.push(generation.call);
    if (!generation.ok && generation.quotaRetryAt !== undefined)
      return quotaStop(generation, generation.reason);
    await reportCall(generation);
    if (!generation.ok)
      return reject(callFailureOutcome(generation), `generation failed: ${generation.reason}`);
    claim.log.draftsGenerated += 1;
    if (attempt === 1) await step(deps, "generated", claim, now);
    const draft = sanitiseGenerated(generation.output);
    const draftFields = {
      messageContent: draft.messageContent,
      messageType: draft.messageType,
      pushNotificationText: draft.pushNotificationText,
    };
    if (draft.messageContent.length < 20) {
      return reject(
        "generation_failed",
        "the message was empty once links and markup were removed",
        draftFields,
      );
    }
    const novelty = checkNovelty({ candidate: draft, recent: recentMessages });
    if (novelty.novel) {
      candidate = draft;
    } else if (rejectedDraft) {
      return reject(
        "gate_failed",
        `still too close to a recent message after regenerating: ${novelty.reason}`,
        draftFields,
      );
    } else {
      await reject("gate_failed", `too close to a recent message: ${novelty.reason}`, draftFields);
      rejectedDraft = { draft: draft.messageContent, reason: novelty.reason };
    }
  }

  logPhase(claim.log, "scoring");
  const simulation = await model.simulateOutcome({
    system: prompts.outcomeSimulation.text,
    prompt: renderOutcomePrompt(context, candidate),
  });
  calls.push(simulation.call);
  if (!simulation.ok && simulation.quotaRetryAt !== undefined)
    return quotaStop(simulation, simulation.reason);
  await reportCall(simulation);
  const candidateFields = {
    messageContent: candidate.messageContent,
    messageType: candidate.messageType,
    pushNotificationText: candidate.pushNotificationText,
  };
  if (!simulation.ok) {
    return reject(
      callFailureOutcome(simulation),
      `outcome simulation failed: ${simulation.reason}`,
      candidateFields,
    );
  }
  const outcome = simulation.output;
  const scoreFields = {
    ...candidateFields,
    effectivenessRating: outcome.effectivenessRating,
    recommendedAction: outcome.recommendedAction,
    outcomeReasoning: sanitiseModelText(outcome.reasoning),
  };
  const verdict = applyQualityGate({ messageContent: candidate.messageContent, outcome });
  if (!verdict.pass) return reject("gate_failed", verdict.reason, scoreFields);
  const finalContent = sanitiseModelText(verdict.messageContent, { maxLength: MESSAGE_MAX_LENGTH });
  if (verdict.revised) {
    const revisedNovelty = checkNovelty({
      candidate: { messageType: candidate.messageType, messageContent: finalContent },
      recent: recentMessages,
    });
    if (!revisedNovelty.novel || finalContent.length < 20) {
      return reject(
        "gate_failed",
        `the revised message is not usable: ${revisedNovelty.novel ? "empty" : revisedNovelty.reason}`,
        {
          ...scoreFields,
          originalMessageContent: candidate.messageContent,
          messageContent: finalContent,
        },
      );
    }
  }
  return {
    ok: true,
    message: messageRecord(deps, base, {
      id: slot.slotId,
      status: "approved",
      generationAttempt: attempt,
      failureReason: null,
      ...scoreFields,
      messageContent: finalContent,
      originalMessageContent: verdict.revised ? candidate.messageContent : null,
    }),
  };
}

const TYPE_LABELS: Readonly<Record<string, string>> = {
  check_in: "Check-in",
  encouragement: "Encouragement",
  challenge: "A challenge",
  reminder: "A reminder",
  alignment_reflection: "Alignment reflection",
  general_reflection: "Reflection",
  personal_insight: "Personal insight",
  relevant_lesson: "A lesson for you",
};

function journalEntryFor(message: StoredMessage, now: number): CoachingJournalEntry {
  const label = TYPE_LABELS[message.messageType ?? ""] ?? "Coaching";
  return {
    title: `Coaching · ${label}`,
    // Escaped as well as sanitised: the entry is Markdown, and no message text may render as a link.
    content: `### ${label}\n\n${escapeMarkdown(message.messageContent)}`,
    createdAt: now,
    isCoachingMessage: true,
    source: "coaching-engine",
    format: "markdown",
    coachingMessageId: message.id,
    messageType: message.messageType ?? "general_reflection",
    pushNotificationText: message.pushNotificationText,
  };
}

function deliveryEvent(message: StoredMessage, now: number) {
  return newEvent({
    id: messageCreatedEventId(message.slotId),
    eventType: EVENT_TYPES.coachingMessageCreated,
    aggregateId: message.id,
    aggregateType: "coachingMessage",
    payload: { messageId: message.id, uid: message.uid, slotId: message.slotId },
    createdBy: "processor",
    now,
  });
}

/**
 * The slot's next state under the run's next lease number. Writing it with `claimSlot` is the
 * fence: if another run took the slot over after this run's lease expired, it created that lease
 * number first, the batch writes nothing, and this run learns it no longer owns the slot.
 */
function underNextLease(slot: SlotRecord, now: number, fields: Partial<SlotRecord>): SlotRecord {
  return { ...slot, ...fields, leaseNumber: slot.leaseNumber + 1, leaseUntil: now, updatedAt: now };
}

/** What a run whose lease was taken over reports: nothing of its own was recorded. */
async function supersededOutcome(
  deps: ProcessorDeps,
  claim: ClaimedSlot,
  result: { outcome: SlotOutcome; messageId: string | null },
): Promise<ProcessOutcome> {
  const { slot } = claim;
  const current = await deps.store.getSlot(slot.slotId);
  return {
    slotId: slot.slotId,
    messageGenerated: false,
    outcome: result.outcome,
    messageId: result.messageId,
    nextCoachingMessageDue: current?.nextCoachingMessageDue ?? slot.dueAt,
    failureReason: `lease ${slot.leaseNumber} expired and the slot was taken over; this run's outcome was discarded`,
    deliveryEventId: null,
    superseded: true,
  };
}

async function completeSlot(
  deps: ProcessorDeps,
  claim: ClaimedSlot,
  now: number,
  result: {
    outcome: SlotOutcome;
    messageId: string | null;
    failureReason: string | null;
    ending?: RunEnding;
    /** Overrides the computed due time (a quota that frees at a known time). */
    nextDueAt?: number;
  },
): Promise<ProcessOutcome> {
  const { slot, user } = claim;
  const settings = scheduleSettingsOf(user);
  const nextCoachingMessageDue =
    result.nextDueAt ??
    (result.outcome === "sent"
      ? nextDueAfterSuccess({ now, ...settings })
      : retryDueAt({ now, frequency: settings.frequency }));
  // The slot records its outcome first, so a run that dies before the reschedule below is finished
  // by the next; and only while this run still owns it (a run that was taken over stops here).
  const completion = await deps.store.claimSlot({
    slot: underNextLease(slot, now, {
      status: "completed",
      outcome: result.outcome,
      messageId: result.messageId,
      nextCoachingMessageDue,
      failureReason: result.failureReason,
    }),
    purpose: "complete",
    now,
    claimToken: claim.claimToken,
  });
  if (completion === "taken") return supersededOutcome(deps, claim, result);
  return afterCompletion(deps, claim, now, { ...result, nextCoachingMessageDue });
}

/** What follows a slot's completion by this run: the reschedule, the run's end, the outcome. */
async function afterCompletion(
  deps: ProcessorDeps,
  claim: ClaimedSlot,
  now: number,
  result: {
    outcome: SlotOutcome;
    messageId: string | null;
    failureReason: string | null;
    ending?: RunEnding;
    nextCoachingMessageDue: number;
  },
): Promise<ProcessOutcome> {
  const { slot, user } = claim;
  const { nextCoachingMessageDue } = result;
  await step(deps, "slot_completed", claim, now, result.messageId ?? undefined);
  await deps.store.setNextDue({
    uid: user.uid,
    nextCoachingMessageDue,
    missedWindows: missedWindowsAfter(result.outcome, claim.missedWindows),
  });
  await step(deps, "rescheduled", claim, now);
  const suspension = await finishRun(deps, {
    uid: user.uid,
    slotId: slot.slotId,
    now,
    log: claim.log,
    ending: result.ending ?? result.outcome,
    messageId: result.messageId,
    failureReason: result.failureReason,
  });
  return {
    slotId: slot.slotId,
    messageGenerated: result.outcome === "sent",
    outcome: result.outcome,
    messageId: result.messageId,
    nextCoachingMessageDue: suspension?.suspendUntil ?? nextCoachingMessageDue,
    failureReason: result.failureReason,
    deliveryEventId: result.messageId ? messageCreatedEventId(slot.slotId) : null,
    superseded: false,
  };
}

/**
 * Runs a claimed slot to completion, resuming after the last step an earlier lease finished.
 * Generation failures and failed gates are outcomes (the user gets the retry interval);
 * anything thrown is left to the caller (see `recoverFromError`).
 */
export async function runClaimedSlot({
  deps,
  claim,
  now,
}: {
  deps: ProcessorDeps;
  claim: ClaimedSlot;
  now: number;
}): Promise<ProcessOutcome> {
  const { store } = deps;
  const { slot, user } = claim;
  let message = await store.getMessage(slot.slotId);
  if (!message) {
    const approval = await generateApprovedMessage(deps, claim, now);
    if (!approval.ok) {
      return completeSlot(deps, claim, now, {
        outcome: approval.outcome,
        messageId: null,
        failureReason: approval.reason,
        ...(approval.outcome === "quota_exceeded" ? { nextDueAt: approval.retryAt } : {}),
      });
    }
    // No delivery event yet: email and push wait until the message is in the journal (below).
    logPhase(claim.log, "storing");
    const created = await store.createMessage(approval.message);
    message = created === "created" ? approval.message : await store.getMessage(slot.slotId);
    if (!message) throw new Error(`approved message ${slot.slotId} vanished`);
    await step(deps, "attempt_stored", claim, now, message.id);
  }

  if (message.status !== "sent") {
    logPhase(claim.log, "delivering");
    const journalEntryId = coachingJournalEntryId(slot.slotId);
    if (message.journalEntryId === null) {
      await store.createJournalEntry({
        uid: user.uid,
        entryId: journalEntryId,
        entry: journalEntryFor(message, now),
      });
      await store.updateMessage(message.id, { journalEntryId, updatedAt: now });
      message = { ...message, journalEntryId };
    }
    await step(deps, "journal_entry_created", claim, now, message.id);
    // Sent = published to the user's journal; the delivery event (email, push) is created in the
    // same batch, so it exists exactly when the message is sent.
    await store.markMessageSent({
      messageId: message.id,
      patch: { status: "sent", wasSent: true, sentAt: now, updatedAt: now },
      deliveryEvent: deliveryEvent(message, now),
    });
    await step(deps, "message_sent", claim, now, message.id);
  } else {
    // Sent by an earlier lease: its batch created the event too, unless an older version sent it;
    // creating it when missing is harmless (deterministic id) and keeps "sent ⇒ delivered" whole.
    await store.ensureDeliveryEvent(deliveryEvent(message, now));
  }
  return completeSlot(deps, claim, now, { outcome: "sent", messageId: message.id, failureReason: null });
}

/**
 * What to do when a claimed run throws (Firestore unavailable, a bug): before a message was
 * approved, the slot fails like a generation error and the user gets the retry interval; after,
 * the lease is released and the user stays due, so the next tick delivers the approved message
 * rather than writing another one. A slot that is completed already is left as it is: when this
 * run completed it (its lease holds this run's token: the completion applied but reported failure,
 * or the throw came after it), the run is finished as the completion would have finished it;
 * otherwise only the reschedule is finished.
 */
export async function recoverFromError({
  deps,
  claim,
  now,
  error,
}: {
  deps: ProcessorDeps;
  claim: ClaimedSlot;
  now: number;
  error: unknown;
}): Promise<ProcessOutcome | null> {
  const current = await deps.store.getSlot(claim.slot.slotId);
  if (current?.status === "completed") {
    const lease = await deps.store.getLease({ slotId: current.slotId, leaseNumber: current.leaseNumber });
    if (lease?.claimToken === claim.claimToken && current.outcome !== null) {
      return afterCompletion(deps, claim, now, {
        outcome: current.outcome,
        messageId: current.messageId,
        failureReason: current.failureReason,
        nextCoachingMessageDue: dueAfterOutcome(current, claim.user, now),
      });
    }
    const snapshot = await deps.store.getUser(claim.user.uid);
    // Only while the user still waits at this slot's due time; anything else was set since.
    if (snapshot?.nextCoachingMessageDue === current.dueAt) {
      await deps.store.setNextDue({
        uid: claim.user.uid,
        nextCoachingMessageDue: dueAfterOutcome(current, claim.user, now),
        missedWindows: missedWindowsAfter(current.outcome, missedWindowsOf(snapshot.dueRank)),
      });
    }
    return null;
  }
  const approved = await deps.store.getMessage(claim.slot.slotId);
  if (approved) {
    // Released under the next lease number: a no-op ("taken") when another run holds the slot now.
    await deps.store.claimSlot({
      slot: underNextLease(claim.slot, now, { failureReason: describeError(error) }),
      purpose: "release",
      now,
      claimToken: claim.claimToken,
    });
    return null;
  }
  return completeSlot(deps, claim, now, {
    outcome: "generation_failed",
    messageId: null,
    failureReason: `processing failed: ${describeError(error)}`,
    ending: "error",
  });
}

/** Accept and run in one call (the test route, tests); the processor route runs the second half after responding. */
export async function processUser({
  deps,
  uid,
  now,
  bypassChecks = false,
}: {
  deps: ProcessorDeps;
  uid: string;
  now: number;
  bypassChecks?: boolean;
}): Promise<AcceptResult | { kind: "processed"; result: ProcessOutcome }> {
  const accepted = await acceptUserRun({ deps, uid, now, bypassChecks });
  if (accepted.kind !== "claimed") return accepted;
  return { kind: "processed", result: await runClaimedSlot({ deps, claim: accepted.claim, now }) };
}
