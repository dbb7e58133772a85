import { z } from "zod";
import { requireFirebaseUser } from "@/adapters/auth/firebase-id-token";
import { getConfig } from "@/config";
import { AppError } from "@/core/errors";
import { isPushPublicKey } from "@/core/push";
import { isWellFormedText } from "@/core/unicode";
import { methodNotAllowed, parseJsonBody, parsePathId, respond } from "@/http/respond";
import { registerPushSubscription, removePushSubscription } from "@/services/push-subscriptions";

type Context = { params: Promise<{ userId: string }> };

/** base64url of exactly `bytes` bytes (unpadded, or padded as some browsers send it). */
const base64UrlBytes = (bytes: number, what: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]+={0,2}$/, "must be base64url")
    .transform((value) => value.replace(/=+$/, ""))
    .refine((value) => Buffer.from(value, "base64url").length === bytes, `must be ${what} (${bytes} bytes)`);

const endpointSchema = z
  .url({ protocol: /^https?$/ })
  .max(2_048)
  .refine(isWellFormedText, "must be valid Unicode text");

/** A browser's `PushSubscription.toJSON()`. */
const subscriptionSchema = z.strictObject({
  endpoint: endpointSchema,
  expirationTime: z.number().nullable().optional(),
  keys: z.strictObject({
    p256dh: base64UrlBytes(65, "a P-256 public key").refine(
      isPushPublicKey,
      "must be a point on the P-256 curve",
    ),
    auth: base64UrlBytes(16, "an auth secret"),
  }),
});

const removeSchema = z.strictObject({ endpoint: endpointSchema });

/** The signed-in user, who may only manage their own subscriptions. */
async function authorise(request: Request, context: Context) {
  const config = getConfig();
  const userId = parsePathId((await context.params).userId, "user id");
  const caller = await requireFirebaseUser(request, config);
  if (caller !== userId)
    throw new AppError("forbidden:auth", "you may only manage your own push subscriptions");
  return { config, userId };
}

/** Registers a browser (at most 10 a user: the oldest others go). 201 when new, 200 when refreshed. */
export async function PUT(request: Request, context: Context): Promise<Response> {
  return respond("users/push-subscriptions", async () => {
    const { config, userId } = await authorise(request, context);
    const { endpoint, keys } = await parseJsonBody(request, subscriptionSchema);
    const saved = await registerPushSubscription(config, { uid: userId, endpoint, keys, now: Date.now() });
    return Response.json(
      { success: true, subscriptionId: saved.id, created: saved.created },
      { status: saved.created ? 201 : 200 },
    );
  });
}

export async function DELETE(request: Request, context: Context): Promise<Response> {
  return respond("users/push-subscriptions", async () => {
    const { config, userId } = await authorise(request, context);
    const { endpoint } = await parseJsonBody(request, removeSchema);
    return Response.json({
      success: true,
      ...(await removePushSubscription(config, { uid: userId, endpoint })),
    });
  });
}

export const GET = methodNotAllowed(["PUT", "DELETE"]);
export const POST = methodNotAllowed(["PUT", "DELETE"]);
export const PATCH = methodNotAllowed(["PUT", "DELETE"]);
