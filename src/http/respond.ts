import "server-only";
import type { z } from "zod";
import { documentIdSchema as documentIdSchemaOf } from "@/core/document-id";
import { AppError } from "@/core/errors";
import { isRunnableEventId, MAX_EVENT_ID_BYTES } from "@/core/event-claim";
import { logger } from "@/logger";

export function errorResponse(error: AppError, headers?: HeadersInit): Response {
  return Response.json({ success: false, error: error.publicMessage }, { status: error.status, headers });
}

/**
 * The one boundary `catch` of a route: typed errors become the error shape of docs/api.md, anything
 * else is logged with its context and answered as a generic 500 without internals.
 */
export async function respond(route: string, handler: () => Promise<Response>): Promise<Response> {
  try {
    return await handler();
  } catch (error) {
    if (error instanceof AppError) {
      if (error.status >= 500) logger.error("route failed", { route, code: error.code, error });
      return errorResponse(error);
    }
    logger.error("route failed unexpectedly", { route, error });
    return errorResponse(new AppError("internal:route", "internal error"));
  }
}

/** A handler for the methods a route does not serve: 405 in the error shape of docs/api.md. */
export function methodNotAllowed(allowed: readonly string[]) {
  return async () =>
    errorResponse(new AppError("method_not_allowed:api", `method not allowed; use ${allowed.join(" or ")}`), {
      allow: allowed.join(", "),
    });
}

/**
 * Reads and validates a JSON body. With `optional`, an empty body stands for `{}`; anything
 * that is not JSON, or does not fit the schema, is a 400 naming what is wrong.
 */
export async function parseJsonBody<Schema extends z.ZodType>(
  request: Request,
  schema: Schema,
  { optional = false }: { optional?: boolean } = {},
): Promise<z.infer<Schema>> {
  const text = await request.text();
  let body: unknown;
  if (text.trim() === "") {
    if (!optional) throw new AppError("bad_request:api", "request body must be JSON");
    body = {};
  } else {
    try {
      body = JSON.parse(text);
    } catch {
      throw new AppError("bad_request:api", "request body must be JSON");
    }
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    throw new AppError(
      "bad_request:api",
      `invalid request body: ${where}${issue?.message ?? "does not match"}`,
    );
  }
  return parsed.data;
}

/**
 * A user id (Firebase uids are at most 128 characters) that Firestore accepts as a document id:
 * see `documentIdProblem` for the reserved forms refused here with a 400 rather than a 500.
 */
export const documentIdSchema = documentIdSchemaOf({ maxLength: 128 });

/**
 * An event id: the journaling app may write longer ones than uids, but no longer than its lease
 * ids (`${eventId}_${n}`) can be (see `MAX_EVENT_ID_BYTES`).
 */
export const eventIdSchema = documentIdSchemaOf({ maxLength: 512 }).refine(
  isRunnableEventId,
  `must be at most ${MAX_EVENT_ID_BYTES} bytes`,
);

export function parsePathId(
  value: string,
  name = "id",
  schema: z.ZodType<string> = documentIdSchema,
): string {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new AppError(
      "bad_request:api",
      `invalid ${name}: ${parsed.error.issues[0]?.message ?? "not an id"}`,
    );
  }
  return parsed.data;
}

/** Validates a URL's query parameters; unknown parameters are a 400 too. */
export function parseQuery<Schema extends z.ZodType>(request: Request, schema: Schema): z.infer<Schema> {
  const params = Object.fromEntries(new URL(request.url).searchParams);
  const parsed = schema.safeParse(params);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError(
      "bad_request:api",
      `invalid query: ${issue?.path.join(".") || "query"}: ${issue?.message ?? "does not match"}`,
    );
  }
  return parsed.data;
}
