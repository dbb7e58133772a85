/**
 * Tracing's start-up switch (`src/instrumentation.ts` → `registerTracing`): off, with nothing
 * registered, unless an exporter is configured or OTEL_DEBUG asks for the console. Each case
 * registers globally, so the "on" case comes last in this file (its own worker).
 */
import { SpanKind, trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it, vi } from "vitest";
import { registerTracing, UrlRedactingSpanProcessor } from "@/adapters/telemetry/register-tracing";
import { loadConfig } from "@/config";
import { currentTraceId, inSpan } from "@/pipeline/tracing";

afterEach(() => {
  vi.restoreAllMocks();
});

const traceIdInsideASpan = () => inSpan("probe", {}, async () => currentTraceId());

const SLACK_HOOK = "https://hooks.slack.com/services/T0/B0/secret";

describe("URLs in spans", () => {
  function exported(appOrigin: string | null) {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [new UrlRedactingSpanProcessor({ appOrigin }), new SimpleSpanProcessor(exporter)],
    });
    return { tracer: provider.getTracer("test"), exporter };
  }

  it("keeps only the origin of a call to another host: a webhook's or push endpoint's secret path is never exported", () => {
    const { tracer, exporter } = exported("https://coach.example");
    tracer
      .startSpan(`fetch POST ${SLACK_HOOK}`, {
        kind: SpanKind.CLIENT,
        attributes: {
          "http.url": SLACK_HOOK,
          "url.full": `${SLACK_HOOK}?x=1`,
          "url.path": "/services/T0/B0/secret",
          "url.query": "x=1",
          "http.target": "/services/T0/B0/secret",
        },
      })
      .end();
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe("fetch POST https://hooks.slack.com");
    expect(span?.attributes["http.url"]).toBe("https://hooks.slack.com");
    expect(span?.attributes["url.full"]).toBe("https://hooks.slack.com");
    expect(JSON.stringify({ name: span?.name, attributes: span?.attributes })).not.toContain("secret");
  });

  it("keeps the path and drops the query of a request to the app itself: an unsubscribe token is never exported", () => {
    const { tracer, exporter } = exported("https://coach.example");
    tracer
      .startSpan("GET /unsubscribe?token=tok-secret", {
        kind: SpanKind.SERVER,
        attributes: { "http.target": "/unsubscribe?token=tok-secret", "url.query": "token=tok-secret" },
      })
      .end();
    tracer
      .startSpan("fetch GET https://coach.example/unsubscribe?token=tok-secret", {
        attributes: { "http.url": "https://coach.example/unsubscribe?token=tok-secret" },
      })
      .end();
    const [request, call] = exporter.getFinishedSpans();
    expect(request?.name).toBe("GET /unsubscribe");
    expect(request?.attributes["http.target"]).toBe("/unsubscribe");
    expect(call?.name).toBe("fetch GET https://coach.example/unsubscribe");
    expect(call?.attributes["http.url"]).toBe("https://coach.example/unsubscribe");
    for (const span of [request, call]) {
      expect(JSON.stringify({ name: span?.name, attributes: span?.attributes })).not.toContain("tok-secret");
    }
  });
});

describe("registering tracing at start-up", () => {
  it("reads OTEL_RECORD_CONTENT and OTEL_DEBUG as off unless set to true: a value that is no boolean is off, never a failed request", () => {
    const base = { NODE_ENV: "test", FIREBASE_PROJECT_ID: "demo-coaching-engine" } as const;
    expect(loadConfig(base).telemetry).toEqual({ traceExport: null, debug: false, recordContent: false });
    expect(loadConfig({ ...base, OTEL_RECORD_CONTENT: "true" }).telemetry.recordContent).toBe(true);
    expect(loadConfig({ ...base, OTEL_RECORD_CONTENT: "sometimes" }).telemetry.recordContent).toBe(false);
    expect(loadConfig({ ...base, OTEL_DEBUG: "verbose" }).telemetry).toEqual({
      traceExport: null,
      debug: false,
      recordContent: false,
    });
  });

  it("warns at start-up, naming the variable, when a tracing switch is no boolean, and leaves it off", () => {
    const warnings = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    expect(registerTracing({ NODE_ENV: "production", OTEL_DEBUG: "verbose-secret" })).toBeNull();
    const printed = warnings.mock.calls.map(([line]) => String(line)).join("\n");
    expect(printed).toContain("OTEL_DEBUG");
    expect(printed).not.toContain("verbose-secret");
  });

  it("reports a configuration every route would fail on at boot, naming the variable and never its value", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    vi.stubEnv("NEXT_RUNTIME", "nodejs");
    vi.stubEnv("SAFETY_RESOURCES", "{“en”: “call-secret”}");
    try {
      const { register } = await import("@/instrumentation");
      await register();
    } finally {
      vi.unstubAllEnvs();
    }
    const printed = errors.mock.calls.map(([line]) => String(line)).join("\n");
    expect(printed).toContain("SAFETY_RESOURCES");
    expect(printed).not.toContain("call-secret");
  });

  it("stays off with no exporter configured: nothing registered, spans are no-ops without a trace id", async () => {
    expect(registerTracing({ NODE_ENV: "production" })).toBeNull();
    expect(await traceIdInsideASpan()).toBeNull();
  });

  it("stays off, saying why, when a tracing variable is malformed", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    expect(
      registerTracing({ NODE_ENV: "production", OTEL_DEBUG: "1", OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" }),
    ).toBeNull();
    expect(errors.mock.calls.map(([line]) => String(line)).join("\n")).toContain(
      "OTEL_EXPORTER_OTLP_ENDPOINT",
    );
    expect(await traceIdInsideASpan()).toBeNull();
  });

  it("with OTEL_DEBUG=1 prints each span to the console and gives log lines a trace id", async () => {
    const printed = vi.spyOn(console, "dir").mockImplementation(() => undefined);
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    expect(registerTracing({ NODE_ENV: "development", OTEL_DEBUG: "1" })).toBe("console");
    const traceId = await traceIdInsideASpan();
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(printed).toHaveBeenCalledWith(
      expect.objectContaining({ name: "probe", traceId }),
      expect.anything(),
    );
    // The registered pipeline redacts URLs before any exporter sees them.
    trace
      .getTracer("test")
      .startSpan(`fetch POST ${SLACK_HOOK}`, { attributes: { "http.url": SLACK_HOOK } })
      .end();
    expect(JSON.stringify(printed.mock.calls.at(-1)?.[0])).not.toContain("secret");
    trace.disable();
  });
});
