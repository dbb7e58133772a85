import { z } from "zod";
import { getConfig } from "@/config";
import { AppError } from "@/core/errors";
import { MAX_INSTANT_MS } from "@/core/user";
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
  until: z.int().positive().max(MAX_INSTANT_MS, "until must be a time a Date can hold").optional(),
});

/** The furthest a suspension may end: beyond it, "until" is a mistake or an attempt to break the pages. */
const MAX_SUSPENSION_MS = 10 * 366 * 24 * 3_600_000;

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
    if (until > now + MAX_SUSPENSION_MS) {
      throw new AppError("bad_request:api", "until must be within 10 years from now");
    }
    return Response.json({
      success: true,
      ...(await suspendUser(config, { uid: userId, until, reason: body.reason, now })),
    });
  });
}

export const GET = methodNotAllowed(["POST"]);
export const PUT = methodNotAllowed(["POST"]);
export const PATCH = methodNotAllowed(["POST"]);
export const DELETE = methodNotAllowed(["POST"]);
