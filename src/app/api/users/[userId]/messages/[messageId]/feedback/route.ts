import { z } from "zod";
import { requireFirebaseUser } from "@/adapters/auth/firebase-id-token";
import { getConfig } from "@/config";
import { documentIdSchema } from "@/core/document-id";
import { AppError } from "@/core/errors";
import { isWellFormedText } from "@/core/unicode";
import { methodNotAllowed, parseJsonBody, parsePathId, respond } from "@/http/respond";
import { giveMessageFeedback } from "@/services/message-feedback";

type Context = { params: Promise<{ userId: string; messageId: string }> };

/**
 * A sent message's id is its slot's, `${uid}_${dueAt}`: up to 142 characters for a 128-character
 * uid, so the uid limit would refuse that user's messages.
 */
const messageIdSchema = documentIdSchema({ maxLength: 256 });

/** The longest note kept: a sentence or two, not a journal entry. */
const MAX_NOTE_LENGTH = 500;

const feedbackSchema = z.strictObject({
  helpful: z.boolean(),
  note: z
    .string()
    .trim()
    .max(MAX_NOTE_LENGTH)
    .refine(isWellFormedText, "must be valid Unicode text")
    .transform((note) => (note === "" ? null : note))
    .optional(),
});

/** The user's own word on one of their sent messages: once per message. 201, 409 the second time. */
export async function POST(request: Request, context: Context): Promise<Response> {
  return respond("users/messages/feedback", async () => {
    const config = getConfig();
    const params = await context.params;
    const userId = parsePathId(params.userId, "user id");
    const messageId = parsePathId(params.messageId, "message id", messageIdSchema);
    const caller = await requireFirebaseUser(request, config);
    if (caller !== userId)
      throw new AppError("forbidden:auth", "you may only give feedback on your own messages");
    const { helpful, note } = await parseJsonBody(request, feedbackSchema);
    await giveMessageFeedback(config, {
      uid: userId,
      messageId,
      helpful,
      note: note ?? null,
      now: Date.now(),
    });
    return Response.json({ success: true, messageId, helpful }, { status: 201 });
  });
}

export const GET = methodNotAllowed(["POST"]);
export const PUT = methodNotAllowed(["POST"]);
export const PATCH = methodNotAllowed(["POST"]);
export const DELETE = methodNotAllowed(["POST"]);
