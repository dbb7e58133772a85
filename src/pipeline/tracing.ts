/**
 * The pipeline's one seam to tracing: the OpenTelemetry API (`@opentelemetry/api`), the
 * vendor-neutral standard whose calls do nothing until an SDK is registered (`src/instrumentation.ts`
 * registers one through `@vercel/otel` when an exporter is configured). No other pipeline file
 * imports it, so the spans, their names and what they may carry are all decided here.
 *
 * Spans carry ids and outcomes (a uid, a slot id, a run id, an event type), never journal text,
 * message text or an error's message (which may quote a vendor's answer): the message stays in
 * the log line, which carries the trace id (src/logger.ts).
 */
import {
  type Attributes,
  context,
  isSpanContextValid,
  SpanStatusCode,
  TraceFlags,
  trace,
} from "@opentelemetry/api";

const tracer = trace.getTracer("coaching-engine");

/** Attribute values a span takes; null and undefined are left out. */
export type SpanFields = Record<string, string | number | boolean | null | undefined>;

/** What a running span lets its work add: more fields, known only once the work has answered. */
export interface SpanHandle {
  set(fields: SpanFields): void;
}

function attributesOf(fields: SpanFields): Attributes {
  const attributes: Attributes = {};
  for (const [key, value] of Object.entries(fields))
    if (value !== null && value !== undefined) attributes[key] = value;
  return attributes;
}

/**
 * Runs `work` in a span named `name`, a child of the active one (the root of a new trace when
 * there is none), and ends it when the work settles. A throw marks the span failed with the
 * error's class only, and is rethrown unchanged.
 */
export function inSpan<Result>(
  name: string,
  fields: SpanFields,
  work: (span: SpanHandle) => Promise<Result>,
): Promise<Result> {
  return tracer.startActiveSpan(name, { attributes: attributesOf(fields) }, async (span) => {
    try {
      return await work({ set: (more) => span.setAttributes(attributesOf(more)) });
    } catch (error) {
      const type = error instanceof Error ? error.name : typeof error;
      span.setAttribute("error.type", type);
      span.setStatus({ code: SpanStatusCode.ERROR, message: type });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * The trace the current work belongs to (32 hex digits), or null when nothing is traced or the
 * trace is not sampled (nothing of it is exported: an id would lead an operator nowhere).
 */
export function currentTraceId(): string | null {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && isSpanContextValid(spanContext) && (spanContext.traceFlags & TraceFlags.SAMPLED) !== 0
    ? spanContext.traceId
    : null;
}

/**
 * `work` bound to the current trace, for work that runs later outside the caller's async
 * context (a route's `after()`), so its spans stay in the request's trace.
 */
export function inCurrentTrace<Args extends unknown[], Result>(
  work: (...args: Args) => Result,
): (...args: Args) => Result {
  return context.bind(context.active(), work);
}
