import { getConfig } from "@/config";
import { requireAdmin } from "@/http/auth";
import { methodNotAllowed, parsePathId, respond } from "@/http/respond";
import { clearUser, userDetail } from "@/services/admin";

type Context = { params: Promise<{ userId: string }> };

/** One user's configuration, schedule, processing state, action history, errors and messages. */
export async function GET(request: Request, context: Context): Promise<Response> {
  return respond("admin/user", async () => {
    const config = getConfig();
    requireAdmin(request, config);
    const userId = parsePathId((await context.params).userId, "user id");
    return Response.json({ success: true, ...(await userDetail(config, userId, Date.now())) });
  });
}

/** Clears one user's coaching data and resets their schedule to bootstrap; no other user is touched. */
export async function DELETE(request: Request, context: Context): Promise<Response> {
  return respond("admin/user", async () => {
    const config = getConfig();
    requireAdmin(request, config);
    const userId = parsePathId((await context.params).userId, "user id");
    return Response.json({ success: true, ...(await clearUser(config, userId)) });
  });
}

export const POST = methodNotAllowed(["GET", "DELETE"]);
export const PUT = methodNotAllowed(["GET", "DELETE"]);
export const PATCH = methodNotAllowed(["GET", "DELETE"]);
