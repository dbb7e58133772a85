import { getConfig } from "@/config";
import { requireAdmin } from "@/http/auth";
import { methodNotAllowed, parsePathId, respond } from "@/http/respond";
import { resumeUser } from "@/services/admin";

/** Lifts a suspension; the user is due at once. */
export async function POST(
  request: Request,
  context: { params: Promise<{ userId: string }> },
): Promise<Response> {
  return respond("admin/user/resume", async () => {
    const config = getConfig();
    requireAdmin(request, config);
    const userId = parsePathId((await context.params).userId, "user id");
    return Response.json({ success: true, ...(await resumeUser(config, { uid: userId, now: Date.now() })) });
  });
}

export const GET = methodNotAllowed(["POST"]);
export const PUT = methodNotAllowed(["POST"]);
export const PATCH = methodNotAllowed(["POST"]);
export const DELETE = methodNotAllowed(["POST"]);
