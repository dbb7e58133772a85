/**
 * Registers the OpenTelemetry SDK through `@vercel/otel`, once per server instance, from
 * `src/instrumentation.ts` (not `server-only`: Next.js loads that file outside the React server
 * layer). Off with no exporter configured: nothing is registered, so every span of the pipeline
 * (`pipeline/tracing.ts`) and of the AI SDK is a no-op and nothing leaves the process.
 */
import { ConsoleSpanExporter, SimpleSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { registerOTel } from "@vercel/otel";
import { type TraceExport, telemetryEnv, telemetrySettings } from "@/config/telemetry";
import { logger } from "@/logger";

/** The name the engine's spans are exported under (`OTEL_SERVICE_NAME` overrides it). */
export const SERVICE_NAME = "coaching-engine";

/**
 * Reads only the tracing variables (a malformed unrelated variable must not take the server
 * down at start-up; that one fails on first use, naming itself), and registers the SDK when
 * spans have somewhere to go. Returns where they go; null when tracing is off.
 */
export function registerTracing(env: NodeJS.ProcessEnv = process.env): TraceExport {
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
  registerOTel({
    serviceName: SERVICE_NAME,
    // "auto": the OTLP exporter from OTEL_EXPORTER_OTLP_*, or Vercel's tracing integration.
    spanProcessors: telemetry.traceExport === "exporter" ? ["auto", ...console] : console,
  });
  logger.info("tracing on", { traceExport: telemetry.traceExport, recordContent: telemetry.recordContent });
  return telemetry.traceExport;
}
