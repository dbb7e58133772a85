/**
 * One error type for the whole engine, with `type:surface` codes. The type decides the HTTP
 * status and whether the message may be shown to the caller; the surface says where it arose.
 * Adapters turn vendor failures into it and keep the original as `cause`.
 */
export type ErrorType =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "config"
  | "unavailable"
  | "internal";

export type ErrorSurface =
  | "api"
  | "auth"
  | "env"
  | "user"
  | "firestore"
  | "dispatch"
  | "llm"
  | "email"
  | "route";

export type ErrorCode = `${ErrorType}:${ErrorSurface}`;

const STATUS_BY_TYPE: Readonly<Record<ErrorType, number>> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  config: 500,
  unavailable: 503,
  internal: 500,
};

/**
 * Types whose message is safe to return to the caller. A configuration error names the
 * missing variable (never its value), which is what an operator needs to fix it; adapter
 * and internal failures are logged with their cause and answered generically.
 */
const VISIBLE_TYPES: ReadonlySet<ErrorType> = new Set([
  "bad_request",
  "unauthorized",
  "forbidden",
  "not_found",
  "method_not_allowed",
  "conflict",
  "config",
]);

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly type: ErrorType;
  readonly surface: ErrorSurface;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AppError";
    this.code = code;
    const [type, surface] = code.split(":") as [ErrorType, ErrorSurface];
    this.type = type;
    this.surface = surface;
  }

  get status(): number {
    return STATUS_BY_TYPE[this.type];
  }

  /** The message to show outside the process. */
  get publicMessage(): string {
    if (VISIBLE_TYPES.has(this.type)) return this.message;
    return this.type === "unavailable" ? "service temporarily unavailable" : "internal error";
  }
}

/** A short, single-line description of any thrown value, for logs and stored failure reasons. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 500);
  return String(error).slice(0, 500);
}
