import { requireFirebaseUser } from "@/adapters/auth/firebase-id-token";
import { getConfig } from "@/config";
import { AppError } from "@/core/errors";
import { methodNotAllowed, parsePathId, respond } from "@/http/respond";
import { getUsage } from "@/services/user-keys";

/** The signed-in user's LLM usage against their limits, and whether a request can be made now. */
export async function GET(
  request: Request,
  context: { params: Promise<{ userId: string }> },
): Promise<Response> {
  return respond("users/usage", async () => {
    const config = getConfig();
    const userId = parsePathId((await context.params).userId, "user id");
    const caller = await requireFirebaseUser(request, config);
    if (caller !== userId) throw new AppError("forbidden:auth", "you may only read your own usage");
    return Response.json({ success: true, ...(await getUsage(config, { uid: userId, now: Date.now() })) });
  });
}

export const POST = methodNotAllowed(["GET"]);
export const PUT = methodNotAllowed(["GET"]);
export const PATCH = methodNotAllowed(["GET"]);
export const DELETE = methodNotAllowed(["GET"]);
