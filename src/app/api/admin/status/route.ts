import { getConfig } from "@/config";
import { requireAdmin } from "@/http/auth";
import { methodNotAllowed, respond } from "@/http/respond";
import { systemStatus } from "@/services/admin";

export const dynamic = "force-dynamic";

/** The whole system at a glance. */
export async function GET(request: Request): Promise<Response> {
  return respond("admin/status", async () => {
    const config = getConfig();
    requireAdmin(request, config);
    return Response.json({ success: true, ...(await systemStatus(config, Date.now())) });
  });
}

export const POST = methodNotAllowed(["GET"]);
export const PUT = methodNotAllowed(["GET"]);
export const PATCH = methodNotAllowed(["GET"]);
export const DELETE = methodNotAllowed(["GET"]);
