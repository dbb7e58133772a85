/**
 * Tracing's start-up switch (`src/instrumentation.ts` → `registerTracing`): off, with nothing
 * registered, unless an exporter is configured or OTEL_DEBUG asks for the console. Each case
 * registers globally, so the "on" case comes last in this file (its own worker).
 */
import { trace } from "@opentelemetry/api";
import { afterEach, describe, expect, it, vi } from "vitest";
import { registerTracing } from "@/adapters/telemetry/register-tracing";
import { loadConfig } from "@/config";
import { currentTraceId, inSpan } from "@/pipeline/tracing";

afterEach(() => {
  vi.restoreAllMocks();
});

const traceIdInsideASpan = () => inSpan("probe", {}, async () => currentTraceId());

describe("registering tracing at start-up", () => {
  it("reads OTEL_RECORD_CONTENT as off unless set to true", () => {
    const base = { NODE_ENV: "test", FIREBASE_PROJECT_ID: "demo-coaching-engine" } as const;
    expect(loadConfig(base).telemetry).toEqual({ traceExport: null, debug: false, recordContent: false });
    expect(loadConfig({ ...base, OTEL_RECORD_CONTENT: "true" }).telemetry.recordContent).toBe(true);
    expect(() => loadConfig({ ...base, OTEL_RECORD_CONTENT: "sometimes" })).toThrow(/OTEL_RECORD_CONTENT/);
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
    trace.disable();
  });
});
