/**
 * Structured, single-line JSON logs (what Vercel's log drains parse best). Errors are reduced
 * to name, message and code, and so is each error of their `cause` chain (an `AppError` wraps the
 * vendor failure that explains it). Request bodies, headers and secrets are never passed in; as a
 * second line of defence, what looks like a credential inside an error message or a string value
 * (a vendor may echo a header) is replaced by `[redacted]`. A line written inside a traced span
 * carries its `traceId`.
 */
import { isSpanContextValid, TraceFlags, trace } from "@opentelemetry/api";

type Level = "info" | "warn" | "error";

/** How many causes below the logged error are kept: enough for adapter → SDK → transport. */
const MAX_CAUSE_DEPTH = 4;
/** Longest message kept per error of the chain. */
const MAX_MESSAGE_LENGTH = 500;

/** How deep objects and arrays of a context value are walked (and redacted); deeper is cut. */
const MAX_VALUE_DEPTH = 5;

/**
 * Credentials a vendor message may quote, with what replaces them: an `Authorization` value,
 * OpenRouter (`sk-…`) and Resend (`re_…`) keys, `key=`/`token=`/`secret=` parameters, the same
 * names as JSON members or headers (`"api_key":"…"`, `x-api-key: …`), and email addresses (a
 * mail provider's refusal quotes the recipient: personal data, not needed to debug).
 */
const CREDENTIAL_PATTERNS: readonly (readonly [RegExp, string])[] = [
  [/\b(Bearer|Basic)\s+[\w.~+/=-]+/gi, "$1 [redacted]"],
  [/\bsk-[\w-]{8,}/g, "[redacted]"],
  [/\bre_\w{8,}/g, "[redacted]"],
  [/\b((?:api[_-]?)?key|token|secret|password)=[^\s&"']+/gi, "$1=[redacted]"],
  [
    /("(?:[\w-]*(?:api[_-]?key|token|secret|password|authorization)[\w-]*)"\s*:\s*)"[^"]*"/gi,
    '$1"[redacted]"',
  ],
  [/\b((?:x-)?api-key|x-auth-token)(\s*:\s*)[^\s,;"']+/gi, "$1$2[redacted]"],
  [/[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g, "[email]"],
];

/** `text` with anything that looks like a credential or an email address replaced. */
export function redactSecrets(text: string): string {
  let redacted = text;
  for (const [pattern, replacement] of CREDENTIAL_PATTERNS) redacted = redacted.replace(pattern, replacement);
  return redacted;
}

const errorMessage = (text: string) => redactSecrets(text).slice(0, MAX_MESSAGE_LENGTH);

function describeValue(value: unknown): string {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** An error and its causes as plain data: name, message and code of each, never a stack. */
function serialiseError(error: Error, seen: Set<unknown>, depth: number): Record<string, unknown> {
  seen.add(error);
  const code = "code" in error ? error.code : undefined;
  const entry: Record<string, unknown> = {
    name: error.name,
    message: errorMessage(error.message),
    ...(typeof code === "string" || typeof code === "number" ? { code } : {}),
  };
  const { cause } = error;
  if (cause === undefined || cause === null || seen.has(cause) || depth >= MAX_CAUSE_DEPTH) return entry;
  entry.cause =
    cause instanceof Error
      ? serialiseError(cause, seen, depth + 1)
      : { message: errorMessage(describeValue(cause)) };
  return entry;
}

/**
 * A context value as logged: errors as their chains, strings redacted (often a vendor's text
 * passed on, such as a failure reason) at any depth of objects and arrays.
 */
function serialise(value: unknown, depth = 0): unknown {
  if (value instanceof Error) return serialiseError(value, new Set(), 0);
  // Often a vendor's text passed on (a failure reason): redacted like an error's message.
  if (typeof value === "string") return redactSecrets(value);
  if (typeof value !== "object" || value === null) return value;
  if (depth >= MAX_VALUE_DEPTH) return "[too deep]";
  if (Array.isArray(value)) return value.map((item) => serialise(item, depth + 1));
  // A plain record only; anything else (a Date, a Map) keeps its own JSON form.
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, serialise(item, depth + 1)]));
}

function write(level: Level, message: string, context: Record<string, unknown> = {}): void {
  const entry: Record<string, unknown> = { level, message, time: new Date().toISOString() };
  // The trace of the work being logged (a scheduler tick, a processor run, an outbox event), so an
  // operator goes from a log line to its trace; absent when nothing is traced.
  // Sampled traces only: an unsampled one is never exported, so its id would lead nowhere.
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (spanContext && isSpanContextValid(spanContext) && (spanContext.traceFlags & TraceFlags.SAMPLED) !== 0)
    entry.traceId = spanContext.traceId;
  for (const [key, value] of Object.entries(context)) entry[key] = serialise(value);
  // Logging is called from error paths: a value JSON cannot encode must not throw from here.
  let line: string;
  try {
    line = JSON.stringify(entry);
  } catch {
    line = JSON.stringify(
      Object.fromEntries(
        Object.entries(entry).map(([key, value]) => {
          try {
            JSON.stringify(value);
            return [key, value];
          } catch {
            return [key, "[unserialisable]"];
          }
        }),
      ),
    );
  }
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

export const logger = {
  info: (message: string, context?: Record<string, unknown>) => write("info", message, context),
  warn: (message: string, context?: Record<string, unknown>) => write("warn", message, context),
  error: (message: string, context?: Record<string, unknown>) => write("error", message, context),
};
