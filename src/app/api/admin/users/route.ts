import { z } from "zod";
import { getConfig } from "@/config";
import { requireAdmin } from "@/http/auth";
import { documentIdSchema, methodNotAllowed, parseQuery, respond } from "@/http/respond";
import { listUsers } from "@/services/admin";

const listQuerySchema = z.strictObject({
  after: documentIdSchema.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(25),
  status: z.enum(["waiting", "running", "suspended", "error"]).optional(),
});

/** Users' processing stats, by uid, paginated with `after` = the previous page's `nextCursor`. */
export async function GET(request: Request): Promise<Response> {
  return respond("admin/users", async () => {
    const config = getConfig();
    requireAdmin(request, config);
    const query = parseQuery(request, listQuerySchema);
    return Response.json({ success: true, ...(await listUsers(config, query)) });
  });
}

export const POST = methodNotAllowed(["GET"]);
export const PUT = methodNotAllowed(["GET"]);
export const PATCH = methodNotAllowed(["GET"]);
export const DELETE = methodNotAllowed(["GET"]);
