/**
 * Delivering an approved message: stored sent, with its journal entry and its delivery event, in
 * one batch with the message's `create()` first. A slot whose message an older version stored
 * approved (then put in the journal, then marked sent with its event) is resumed after the last
 * step an earlier lease finished.
 */
import type { SlotRecord } from "@/core/due-slot";
import { EVENT_TYPES, messageCreatedEventId, newEvent } from "@/core/events";
import { escapeMarkdown } from "@/core/message-text";
import { logPhase } from "../processing-log";
import type { CoachingJournalEntry, ProcessorStore, StoredMessage } from "../processor-store-ports";
import { inSpan } from "../tracing";
import { generateApprovedMessage } from "./approve";
import {
  afterCompletion as afterCompletionUntraced,
  completeSlot as completeSlotUntraced,
  supersededOutcome,
} from "./complete";
import {
  type ClaimedSlot,
  coachingJournalEntryId,
  dueAfterOutcome,
  type ProcessOutcome,
  type ProcessorDeps,
  step,
} from "./run";

/** A step of the run in its own span: `processor.generate`, `processor.store`, `processor.complete`. */
function inStep<Result>(
  name: "generate" | "store" | "complete",
  work: () => Promise<Result>,
): Promise<Result> {
  return inSpan(`processor.${name}`, { "coaching.component": "processor" }, work);
}

const completeSlot = (...args: Parameters<typeof completeSlotUntraced>) =>
  inStep("complete", () => completeSlotUntraced(...args));

const afterCompletion = (...args: Parameters<typeof afterCompletionUntraced>) =>
  inStep("complete", () => afterCompletionUntraced(...args));

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

/** The approved message as sent: published to the journal under the slot's derived entry id. */
function sentMessage(approved: StoredMessage, now: number): StoredMessage {
  return {
    ...approved,
    status: "sent",
    wasSent: true,
    sentAt: now,
    updatedAt: now,
    journalEntryId: coachingJournalEntryId(approved.slotId),
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

/** The slot as the batch that stores its sent message completes it. */
function sentCompletion(claim: ClaimedSlot, messageId: string, now: number): SlotRecord {
  return {
    ...claim.slot,
    status: "completed",
    outcome: "sent",
    messageId,
    nextCoachingMessageDue: dueAfterOutcome({ ...claim.slot, outcome: "sent" }, claim.user, now),
    failureReason: null,
    leaseUntil: now,
    updatedAt: now,
  };
}

/** What follows the sent message's batch, which completed the slot: the reschedule and the run's end. */
function afterSentCompletion(deps: ProcessorDeps, claim: ClaimedSlot, now: number, completed: SlotRecord) {
  return afterCompletion(deps, claim, now, {
    outcome: "sent",
    messageId: completed.messageId,
    failureReason: null,
    nextCoachingMessageDue: completed.nextCoachingMessageDue ?? dueAfterOutcome(completed, claim.user, now),
  });
}

/**
 * When the slot's message was stored sent by a batch that completed the slot: this run's own
 * (applied but reported failure), finished as if it had answered; or another run's, whose outcome
 * stands (this run records nothing, as one taken over). Null when the slot is still running: an
 * older version's message, to be resumed.
 */
async function completedSlotOf(
  deps: ProcessorDeps,
  claim: ClaimedSlot,
  now: number,
): Promise<ProcessOutcome | null> {
  const current = await deps.store.getSlot(claim.slot.slotId);
  if (current?.status !== "completed") return null;
  if (current.claimToken === claim.claimToken) return afterSentCompletion(deps, claim, now, current);
  const outcome = { outcome: current.outcome ?? "sent", messageId: current.messageId };
  return supersededOutcome(deps, claim, outcome, current);
}

/**
 * Publishes a message an earlier lease stored: an older version's approved one is put in the
 * journal and marked sent together with its delivery event (so email and push exist exactly when
 * it is sent); one already sent gets its delivery event when an older version left it without.
 * Every write has an id derived from the slot, so a second time is harmless.
 */
export async function publishStoredMessage(
  store: Pick<ProcessorStore, "createJournalEntry" | "markMessageSent" | "ensureDeliveryEvent">,
  message: StoredMessage,
  now: number,
  afterStep: (done: "journal_entry_created" | "message_sent") => Promise<void> = async () => undefined,
): Promise<void> {
  if (message.status === "sent") {
    await store.ensureDeliveryEvent(deliveryEvent(message, now));
    return;
  }
  const journalEntryId = coachingJournalEntryId(message.slotId);
  if (message.journalEntryId === null) {
    // Created with its derived id: a run that dies before the message is marked sent creates it
    // again harmlessly ("exists"); the message records the entry with the move to sent.
    await store.createJournalEntry({
      uid: message.uid,
      entryId: journalEntryId,
      entry: journalEntryFor(message, now),
    });
  }
  await afterStep("journal_entry_created");
  await store.markMessageSent({
    messageId: message.id,
    patch: { status: "sent", wasSent: true, sentAt: now, updatedAt: now, journalEntryId },
    deliveryEvent: deliveryEvent({ ...message, journalEntryId }, now),
  });
  await afterStep("message_sent");
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
  const { slot } = claim;
  let message = claim.firstLease ? null : await store.getMessage(slot.slotId);
  if (!message) {
    const approval = await inStep("generate", () => generateApprovedMessage(deps, claim, now));
    if (!approval.ok) {
      return completeSlot(deps, claim, now, {
        outcome: approval.outcome,
        messageId: null,
        failureReason: approval.reason,
        ...(approval.outcome === "quota_exceeded" || approval.outcome === "ceiling_reached"
          ? { nextDueAt: approval.retryAt }
          : {}),
      });
    }
    logPhase(claim.log, "storing");
    // Stored sent, in the journal and with its delivery event, and the slot completed, in one
    // batch: nothing to resume between them, and a crash before it leaves nothing (the next run
    // generates again).
    const sent = sentMessage(approval.message, now);
    const completion = sentCompletion(claim, sent.id, now);
    const stored = await inStep("store", () =>
      store.storeSentMessage({
        message: sent,
        journalEntry: { entryId: coachingJournalEntryId(slot.slotId), entry: journalEntryFor(sent, now) },
        deliveryEvent: deliveryEvent(sent, now),
        completedSlot: completion,
        claimToken: claim.claimToken,
      }),
    );
    if (stored === "created") {
      logPhase(claim.log, "delivering");
      for (const done of ["attempt_stored", "journal_entry_created", "message_sent"] as const) {
        await step(deps, done, claim, now, sent.id);
      }
      return afterSentCompletion(deps, claim, now, completion);
    }
    // The slot's message stands already: this run's own batch that applied but reported failure
    // (the slot names this run), or another run's, whose batch completed the slot too.
    const completedBy = await completedSlotOf(deps, claim, now);
    if (completedBy) return completedBy;
    // An older version's message, stored approved under a running slot: resumed after its last step.
    message = await store.getMessage(slot.slotId);
    if (!message) throw new Error(`approved message ${slot.slotId} vanished`);
    await step(deps, "attempt_stored", claim, now, message.id);
  } else if (message.status === "sent") {
    // Stored sent by a run whose lease this one took over: its batch completed the slot.
    const completedBy = await completedSlotOf(deps, claim, now);
    if (completedBy) return completedBy;
  }

  if (message.status !== "sent") logPhase(claim.log, "delivering");
  const held = message;
  await publishStoredMessage(store, held, now, (done) => step(deps, done, claim, now, held.id));
  return completeSlot(deps, claim, now, { outcome: "sent", messageId: message.id, failureReason: null });
}
