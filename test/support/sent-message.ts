import type { Firestore } from "firebase-admin/firestore";
import { messageCreatedEventId, newEvent } from "@/core/events";
import { putDocuments } from "./firestore";

/**
 * A coaching message as the processor stores it sent and journaled (`${uid}_${slot}`), with its
 * pending delivery record and its pending delivery event, for the outbox's delivery tests.
 */
export async function putSentMessage(
  db: Firestore,
  {
    uid,
    slot,
    at,
    pushNotificationText = "A note for you",
  }: { uid: string; slot: string; at: number; pushNotificationText?: string },
): Promise<{ messageId: string; eventId: string }> {
  const messageId = `${uid}_${slot}`;
  await putDocuments(db, "coachingMessages", [
    [
      messageId,
      {
        id: messageId,
        uid,
        slotId: messageId,
        messageContent: `A message for ${uid}.`,
        pushNotificationText,
        status: "sent",
        journalEntryId: `coaching_${messageId}`,
        delivery: {
          email: { status: "pending", providerId: null, error: null, attemptedAt: null },
          push: { status: "pending", text: null },
        },
      },
    ],
  ]);
  const event = newEvent({
    id: messageCreatedEventId(messageId),
    eventType: "coaching.message.created",
    aggregateId: messageId,
    aggregateType: "coachingMessage",
    payload: { messageId, uid, slotId: messageId },
    createdBy: "test",
    now: at,
  });
  await putDocuments(db, "events", [[event.id, { ...event }]]);
  return { messageId, eventId: event.id };
}
