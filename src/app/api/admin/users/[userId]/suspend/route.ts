import { z } from "zod";
import { getConfig } from "@/config";
import { AppError } from "@/core/errors";
import { requireAdmin } from "@/http/auth";
import { methodNotAllowed, parseJsonBody, parsePathId, respond } from "@/http/respond";
import { suspendUser } from "@/services/admin";

const suspendSchema = z.strictObject({
  reason: z.string().trim().min(1).max(300),
  hours: z
    .number()
    .positive()
    .max(24 * 365)
    .optional(),
  until: z.int().positive().optional(),
});

/** Suspends a user for `hours` or until `until` (Unix ms), with a reason. */
export async function POST(
  request: Request,
  context: { params: Promise<{ userId: string }> },
): Promise<Response> {
  return respond("admin/user/suspend", async () => {
    const config = getConfig();
    requireAdmin(request, config);
    const userId = parsePathId((await context.params).userId, "user id");
    const body = await parseJsonBody(request, suspendSchema);
    const now = Date.now();
    if ((body.hours === undefined) === (body.until === undefined)) {
      throw new AppError("bad_request:api", "give exactly one of hours or until");
    }
    const until = body.until ?? now + Math.round((body.hours ?? 0) * 3_600_000);
    if (until <= now) throw new AppError("bad_request:api", "until must be in the future");
    return Response.json({
      success: true,
      ...(await suspendUser(config, { uid: userId, until, reason: body.reason, now })),
    });
  });
}

export const GET = methodNotAllowed(["POST"]);
