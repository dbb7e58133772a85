import "server-only";
import { getDb } from "@/adapters/firestore/client";
import { recordMessageFeedback } from "@/adapters/firestore/message-feedback-store";
import type { AppConfig } from "@/config";
import { AppError } from "@/core/errors";
import { logger } from "@/logger";

/** Records the user's feedback on their sent message, once: 404 unknown, 409 given before or not sent. */
export async function giveMessageFeedback(
  config: AppConfig,
  input: { uid: string; messageId: string; helpful: boolean; note: string | null; now: number },
): Promise<void> {
  const outcome = await recordMessageFeedback(getDb(config), input);
  if (outcome === "not_found") throw new AppError("not_found:api", `message ${input.messageId} not found`);
  if (outcome === "not_sent") throw new AppError("conflict:api", "feedback is for sent messages only");
  if (outcome === "already_given")
    throw new AppError("conflict:api", "feedback was already given for this message");
  // The note is the user's own text: never logged.
  logger.info("message feedback recorded", { messageId: input.messageId, helpful: input.helpful });
}
