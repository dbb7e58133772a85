/**
 * Registers the OpenTelemetry SDK through `@vercel/otel`, once per server instance, from
 * `src/instrumentation.ts` (not `server-only`: Next.js loads that file outside the React server
 * layer). Off with no exporter configured: nothing is registered, so every span of the pipeline
 * (`pipeline/tracing.ts`) and of the AI SDK is a no-op and nothing leaves the process.
 */
import type { Attributes, Context } from "@opentelemetry/api";
import {
  ConsoleSpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type Span,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { registerOTel } from "@vercel/otel";
import {
  type TraceExport,
  telemetryEnv,
  telemetrySettings,
  unreadableTracingSwitches,
} from "@/config/telemetry";
import { logger } from "@/logger";

/** The name the engine's spans are exported under (`OTEL_SERVICE_NAME` overrides it). */
export const SERVICE_NAME = "coaching-engine";

/** Attributes that carry a whole URL (Next's fetch spans, `@vercel/otel`'s fetch instrumentation). */
const FULL_URL_ATTRIBUTES = ["http.url", "url.full"] as const;
/** Attributes that carry a path (request spans; a client span's path on the host it calls). */
const PATH_ATTRIBUTES = ["http.target", "url.path"] as const;
/** An absolute URL, or a path standing as its own word, in a span's name (`fetch POST https://…`, `GET /…`). */
const URL_IN_NAME = /\bhttps?:\/\/\S+|(?<=^|\s)\/\S*/g;

/**
 * `raw` as a span may keep it: a path on the app itself without its query (an unsubscribe link's
 * `?token=`); a URL on the app's own origin as origin and path; any other host's as its origin
 * only (a Slack webhook's or a web-push endpoint's path is its secret).
 */
export function redactUrl(raw: string, appOrigin: string | null): string {
  const withoutQuery = raw.split(/[?#]/)[0] ?? "";
  if (raw.startsWith("/")) return withoutQuery;
  try {
    const url = new URL(raw);
    return appOrigin !== null && url.origin === appOrigin ? `${url.origin}${url.pathname}` : url.origin;
  } catch {
    return withoutQuery;
  }
}

/**
 * Rewrites URLs in every span as it starts (and what was set on it since, as it ends), before any
 * exporter sees it: with tracing on, Next's fetch and request spans would otherwise carry
 * ALERT_WEBHOOK_URL's path, push endpoints and unsubscribe tokens off the platform.
 */
export class UrlRedactingSpanProcessor implements SpanProcessor {
  private readonly appOrigin: string | null;

  constructor({ appOrigin }: { appOrigin: string | null }) {
    this.appOrigin = appOrigin;
  }

  private redactedAttributes(attributes: Attributes): Attributes {
    const patch: Attributes = {};
    let otherHost = false;
    for (const key of FULL_URL_ATTRIBUTES) {
      const value = attributes[key];
      if (typeof value !== "string") continue;
      patch[key] = redactUrl(value, this.appOrigin);
      // A call to another host: its path attributes are that host's path, kept out too.
      otherHost ||= !value.startsWith("/") && !this.isOwn(value);
    }
    for (const key of PATH_ATTRIBUTES) {
      const value = attributes[key];
      if (typeof value === "string") patch[key] = otherHost ? "[redacted]" : redactUrl(value, this.appOrigin);
    }
    if (typeof attributes["url.query"] === "string") patch["url.query"] = "[redacted]";
    return patch;
  }

  private isOwn(raw: string): boolean {
    try {
      return this.appOrigin !== null && new URL(raw).origin === this.appOrigin;
    } catch {
      return false;
    }
  }

  onStart(span: Span, _parentContext: Context): void {
    span.setAttributes(this.redactedAttributes(span.attributes));
    const name = span.name.replace(URL_IN_NAME, (raw) => redactUrl(raw, this.appOrigin));
    if (name !== span.name) span.updateName(name);
  }

  onEnd(span: ReadableSpan): void {
    // Attributes set after the start (an ended span takes no `setAttribute`): rewritten in place,
    // before the exporting processors, which come after this one.
    Object.assign(span.attributes, this.redactedAttributes(span.attributes));
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** The app's own origin (APP_URL, else Vercel's URLs), whose paths spans may keep; null when unknown. */
function appOriginOf(env: NodeJS.ProcessEnv): string | null {
  const host = env.VERCEL_PROJECT_PRODUCTION_URL || env.VERCEL_URL;
  const candidate = env.APP_URL || (host ? `https://${host}` : "");
  try {
    return candidate ? new URL(candidate).origin : null;
  } catch {
    return null;
  }
}

/**
 * Reads only the tracing variables (a malformed unrelated variable must not take the server
 * down at start-up; that one fails on first use, naming itself), and registers the SDK when
 * spans have somewhere to go. Returns where they go; null when tracing is off.
 */
export function registerTracing(env: NodeJS.ProcessEnv = process.env): TraceExport {
  const unreadable = unreadableTracingSwitches(env);
  if (unreadable.length > 0) {
    logger.warn("tracing switches read as off: set them to true or false", { variables: unreadable });
  }
  const parsed = telemetryEnv.safeParse(env);
  if (!parsed.success) {
    logger.error("tracing is off: invalid configuration", {
      problems: parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`),
    });
    return null;
  }
  const { telemetry } = telemetrySettings(parsed.data);
  if (!telemetry.traceExport) return null;
  const console: SpanProcessor[] = telemetry.debug
    ? [new SimpleSpanProcessor(new ConsoleSpanExporter())]
    : [];
  // First, so every exporting processor after it sees the URLs rewritten.
  const redacting = new UrlRedactingSpanProcessor({ appOrigin: appOriginOf(env) });
  registerOTel({
    serviceName: SERVICE_NAME,
    // "auto": the OTLP exporter from OTEL_EXPORTER_OTLP_*, or Vercel's tracing integration.
    spanProcessors:
      telemetry.traceExport === "exporter" ? [redacting, "auto", ...console] : [redacting, ...console],
  });
  logger.info("tracing on", { traceExport: telemetry.traceExport, recordContent: telemetry.recordContent });
  return telemetry.traceExport;
}
