/**
 * Traces (OpenTelemetry through `@vercel/otel`, registered in `src/instrumentation.ts`). Off, not
 * broken, with no exporter configured: nothing is registered, every span is a no-op and nothing
 * leaves the process. On with an OTLP endpoint (the SDK's own `OTEL_EXPORTER_OTLP_*` variables),
 * a Vercel tracing integration (`VERCEL_OTEL_ENDPOINTS`, set by Vercel), or `OTEL_DEBUG` (spans
 * printed to the console, for `npm run dev`).
 */
import { z } from "zod";
import { optionalText } from "./fields";

/** A tracing switch: off unless set to a boolean that says on. */
const tracingSwitch = optionalText.pipe(z.stringbool().default(false));
/** The switches that fall back to off, with a warning at start-up, when their value is no boolean. */
const TRACING_SWITCHES = ["OTEL_RECORD_CONTENT", "OTEL_DEBUG"] as const;

export const telemetryEnv = z.object({
  /**
   * Whether the AI SDK's spans record the prompt and the model's output. Off by default: the
   * prompt quotes the user's journal, which is private, and an exporter sends spans off the platform.
   * A value that is no boolean is off (warned at start-up): a typo must not fail every request.
   */
  OTEL_RECORD_CONTENT: tracingSwitch.catch(false),
  /** Prints every span to the console (development). Off, with a warning, when no boolean. */
  OTEL_DEBUG: tracingSwitch.catch(false),
  /** The OTLP endpoint for all signals, or for traces only; read by the SDK itself. */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalText.pipe(z.url().optional()),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalText.pipe(z.url().optional()),
  /** Set by Vercel when a tracing integration is installed on the project. */
  VERCEL_OTEL_ENDPOINTS: optionalText,
});

type TelemetryEnv = z.output<typeof telemetryEnv>;

/** The tracing switches set to something that is no boolean (read as off): their names, never their values. */
export function unreadableTracingSwitches(env: NodeJS.ProcessEnv): string[] {
  return TRACING_SWITCHES.filter((name) => !tracingSwitch.safeParse(env[name]).success);
}

/** Where spans go: an OTLP endpoint or Vercel's integration (`@vercel/otel` picks), the console, or nowhere. */
export type TraceExport = "exporter" | "console" | null;

/** The traces' part of the configuration. */
export function telemetrySettings(env: TelemetryEnv) {
  const exporterConfigured = Boolean(
    env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.VERCEL_OTEL_ENDPOINTS,
  );
  const traceExport: TraceExport = exporterConfigured ? "exporter" : env.OTEL_DEBUG ? "console" : null;
  return {
    telemetry: {
      /** Null: tracing is off (nothing registered, nothing exported). */
      traceExport,
      /** Also print spans to the console (OTEL_DEBUG), beside an exporter or alone. */
      debug: env.OTEL_DEBUG,
      /** The LLM calls' spans record prompt and output text (OTEL_RECORD_CONTENT); off by default. */
      recordContent: env.OTEL_RECORD_CONTENT,
    },
  };
}
