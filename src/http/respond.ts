import "server-only";
import { z } from "zod";
import { AppError } from "@/core/errors";
import { logger } from "@/logger";

export function errorResponse(error: AppError, headers?: HeadersInit): Response {
  return Response.json({ success: false, error: error.publicMessage }, { status: error.status, headers });
}

/**
 * The one boundary `catch` of a route: typed errors become the contract's error shape, anything
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

/** A handler for the methods a route does not serve: 405 in the contract's error shape. */
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

/** A document id from a path segment: 1–128 characters, no '/', not "." or "..". */
export const documentIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^/]+$/, "must not contain '/'")
  .refine((value) => value !== "." && value !== "..", "is not a document id");

export function parsePathId(value: string, name = "id"): string {
  const parsed = documentIdSchema.safeParse(value);
  if (!parsed.success) throw new AppError("bad_request:api", `invalid ${name}`);
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
