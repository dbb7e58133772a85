import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";

export type FeedbackOutcome = "recorded" | "already_given" | "not_found" | "not_sent";

/**
 * The user's feedback on one of their sent messages: `messageFeedback/{messageId}` created with
 * `create()` (once per message) in one batch with `feedbackHelpful`/`feedbackAt` on the message,
 * the create first, so a second answer writes nothing.
 */
export async function recordMessageFeedback(
  db: Firestore,
  input: { uid: string; messageId: string; helpful: boolean; note: string | null; now: number },
): Promise<FeedbackOutcome> {
  const message = db.collection(COLLECTIONS.coachingMessages).doc(input.messageId);
  const snapshot = await firestoreCall("read message", () => message.get());
  // Another user's message reads as missing: ids say nothing about other users.
  if (!snapshot.exists || snapshot.get("uid") !== input.uid) return "not_found";
  if (snapshot.get("status") !== "sent") return "not_sent";
  const outcome = await createOnce("record message feedback", async () => {
    const batch = db.batch();
    batch.create(db.collection(COLLECTIONS.messageFeedback).doc(input.messageId), {
      messageId: input.messageId,
      uid: input.uid,
      helpful: input.helpful,
      note: input.note,
      createdAt: input.now,
      // Copied for the engagement figures, which group by them without reading every message.
      messageType: snapshot.get("messageType") ?? null,
      effectivenessRating: snapshot.get("effectivenessRating") ?? null,
    });
    batch.update(message, { feedbackHelpful: input.helpful, feedbackAt: input.now });
    await batch.commit();
  });
  return outcome === "created" ? "recorded" : "already_given";
}
