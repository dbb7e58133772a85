import { z } from "zod";
import { requireFirebaseUser } from "@/adapters/auth/firebase-id-token";
import { getConfig } from "@/config";
import { AppError } from "@/core/errors";
import { methodNotAllowed, parseJsonBody, parsePathId, respond } from "@/http/respond";
import { deleteUserKey, getKeySummary, setUserKey } from "@/services/user-keys";

type Context = { params: Promise<{ userId: string }> };

const setKeySchema = z.strictObject({
  apiKey: z
    .string()
    .trim()
    .min(20, "is too short to be an OpenRouter key")
    .max(200)
    // Printable ASCII only: a key goes into an Authorization header, which carries nothing else
    // (fetch refuses such a header, and the refusal would read as OpenRouter being down).
    .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces"),
});

/** The signed-in user, who may only act on their own key. */
async function authorise(request: Request, context: Context) {
  const config = getConfig();
  const userId = parsePathId((await context.params).userId, "user id");
  const caller = await requireFirebaseUser(request, config);
  if (caller !== userId) throw new AppError("forbidden:auth", "you may only manage your own key");
  return { config, userId };
}

export async function GET(request: Request, context: Context): Promise<Response> {
  return respond("users/api-key", async () => {
    const { config, userId } = await authorise(request, context);
    return Response.json({ success: true, ...(await getKeySummary(config, userId)) });
  });
}

/** Sets or replaces the key; it is checked with OpenRouter first and never returned. */
export async function PUT(request: Request, context: Context): Promise<Response> {
  return respond("users/api-key", async () => {
    const { config, userId } = await authorise(request, context);
    const { apiKey } = await parseJsonBody(request, setKeySchema);
    return Response.json({
      success: true,
      ...(await setUserKey(config, { uid: userId, apiKey, now: Date.now() })),
    });
  });
}

export async function DELETE(request: Request, context: Context): Promise<Response> {
  return respond("users/api-key", async () => {
    const { config, userId } = await authorise(request, context);
    return Response.json({ success: true, ...(await deleteUserKey(config, userId)) });
  });
}

export const POST = methodNotAllowed(["GET", "PUT", "DELETE"]);
export const PATCH = methodNotAllowed(["GET", "PUT", "DELETE"]);
