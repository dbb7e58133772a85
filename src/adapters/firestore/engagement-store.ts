import "server-only";
import type { Firestore, Query } from "firebase-admin/firestore";
import { MESSAGE_TYPES } from "@/core/coaching-message";
import type { EngagementRows } from "@/core/engagement";
import { COLLECTIONS } from "./collections";
import { firestoreCall } from "./errors";

/** The engagement of the messages sent since `since` (ratings 1–10; the gate sends 6 and above). */
export interface EngagementFigures extends EngagementRows {
  since: number;
}

const RATINGS = Array.from({ length: 10 }, (_, index) => index + 1);

/** The top-level fields the counts filter on: each `true` when it happened (webhooks, the user). */
const FLAGS = {
  delivered: ["emailDelivered", true],
  opened: ["emailOpened", true],
  clicked: ["emailClicked", true],
  helpful: ["feedbackHelpful", true],
  pushDelivered: ["pushDelivered", true],
} as const;

/**
 * Engagement of the messages sent since `since`, per effectiveness rating and per message type:
 * does the quality gate's rating predict what users value? Counted with aggregation queries (one
 * index-entry read per 1,000 counted), never by reading the messages: at a million users a month
 * of messages is tens of millions of documents. Each count is an equality on the group (and on a
 * flag) with a range on `sentAt`: the composite indexes are in firestore.indexes.json.
 */
export function engagementFigures(
  db: Firestore,
  {
    since,
    until,
    variants = [],
  }: {
    since: number;
    until?: number;
    /** Prompt variant keys to count too (a running experiment's, core/prompt-experiments.ts). */
    variants?: readonly string[];
  },
): Promise<EngagementFigures> {
  const messages = db.collection(COLLECTIONS.coachingMessages);
  const count = (query: Query) =>
    query
      .count()
      .get()
      .then((result) => result.data().count);
  const countsFor = async (
    field: "effectivenessRating" | "messageType" | "promptVariant",
    value: number | string,
  ) => {
    const from = messages.where(field, "==", value).where("sentAt", ">=", since);
    // `until` (exclusive) counts one day's messages for the metrics rollup: the same index.
    const group = until === undefined ? from : from.where("sentAt", "<", until);
    const sent = await count(group);
    // Nothing sent in the group (every rating below the gate's, a type not used that day): its
    // flags are 0 too, and the six counts are spared.
    if (!sent) {
      return { sent: 0, delivered: 0, opened: 0, clicked: 0, helpful: 0, rated: 0, pushDelivered: 0 };
    }
    const [delivered, opened, clicked, helpful, pushDelivered, unhelpful] = await Promise.all([
      ...Object.values(FLAGS).map(([flag, on]) => count(group.where(flag, "==", on))),
      count(group.where("feedbackHelpful", "==", false)),
    ]);
    return {
      sent,
      delivered: delivered ?? 0,
      opened: opened ?? 0,
      clicked: clicked ?? 0,
      helpful: helpful ?? 0,
      rated: (helpful ?? 0) + (unhelpful ?? 0),
      pushDelivered: pushDelivered ?? 0,
    };
  };
  return firestoreCall("count engagement", async () => ({
    since,
    byRating: await Promise.all(
      RATINGS.map(async (rating) => ({ rating, ...(await countsFor("effectivenessRating", rating)) })),
    ),
    byType: await Promise.all(
      MESSAGE_TYPES.map(async (messageType) => ({
        messageType,
        ...(await countsFor("messageType", messageType)),
      })),
    ),
    ...(variants.length > 0
      ? {
          byVariant: await Promise.all(
            variants.map(async (variant) => ({ variant, ...(await countsFor("promptVariant", variant)) })),
          ),
        }
      : {}),
  }));
}
