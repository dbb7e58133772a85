/**
 * One processed user's trace, collected in memory with the OpenTelemetry SDK's own exporter: the
 * real scheduler tick on the emulator, the real HTTP dispatcher (its `traceparent`), a processor
 * stand-in that joins the trace from that header as Next.js does for the processor route and
 * runs the real processor (the AI SDK and OpenRouter provider over HTTP to the LLM sandbox), and
 * the outbox's delivery handler (Resend SDK to the mail catcher). Everything must be one trace,
 * with no journal or message text in any span unless OTEL_RECORD_CONTENT is on.
 */
import { context, propagation, ROOT_CONTEXT, TraceFlags, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createHttpDispatcher } from "@/adapters/dispatch/http-dispatcher";
import { parseMessageView, parseRunSummary } from "@/adapters/firestore/admin/documents";
import { createFirestoreSchedulerStore } from "@/adapters/firestore/scheduler-store";
import { EVENT_TYPES } from "@/core/events";
import { logger } from "@/logger";
import { type EventProcessorDeps, processEvent } from "@/pipeline/outbox/process-event";
import { acceptUserRun, type ProcessorDeps } from "@/pipeline/process-user";
import type { StoredMessage } from "@/pipeline/processor-store-ports";
import { runScheduler, schedulerSettingsFromConfig } from "@/pipeline/run-scheduler";
import type { SchedulerRunRecord } from "@/pipeline/scheduler-run-record";
import { currentTraceId, inCurrentTrace, inSpan } from "@/pipeline/tracing";
import { runSlotSafely } from "@/services/processor";
import { realEventDeps, realProcessorDeps, seedDueUser, testConfig } from "../support/processor";
import { localServicesForFile } from "../support/stack";

const exporter = new InMemorySpanExporter();
// Registers the tracer provider, the AsyncLocalStorage context manager and the W3C propagator
// globally, as `@vercel/otel` does in the app; this test file runs in its own worker.
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();

const services = localServicesForFile();
let db: Firestore;

afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

beforeEach(() => {
  ({ db } = services.handle.freshProject("tracing"));
  exporter.reset();
});

afterEach(() => {
  vi.restoreAllMocks();
});

const NOW = Date.now();
/** Private journal text: it reaches the prompt, and must reach no span by default. */
const JOURNAL_LINES = [
  "Marguerite's wedding in Lisbon has me lying awake about the money I owe my brother.",
  "Told nobody about the panic on the tram this morning; breathing exercise helped a little.",
];

/**
 * One scheduler tick over one due user: the tick dispatches over HTTP (the real dispatcher, its
 * fetch answered in-process), the stand-in joins the trace from `traceparent`, claims, answers
 * 202 and runs the slot after the answer (bound to the trace, as the route's `after()` is), and
 * delivers the message's event at once, as the route does.
 */
async function tickOverOneUser(env: Record<string, string> = {}) {
  const uid = "traced";
  await seedDueUser(db, { uid, now: NOW, entries: JOURNAL_LINES });
  // The seeding's own Firestore spans (the client traces itself) are no part of the run.
  exporter.reset();
  const config = testConfig({ sandbox: services.sandbox, env });
  const deps: ProcessorDeps = realProcessorDeps({ db, sandbox: services.sandbox, env });
  const events: EventProcessorDeps = realEventDeps({ db, catcher: services.catcher });
  const runs: Promise<unknown>[] = [];
  const headersSeen: Record<string, string>[] = [];

  const processorStandIn: typeof fetch = async (_url, init) => {
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    headersSeen.push(headers);
    const { userId } = JSON.parse(String(init?.body)) as { userId: string };
    // What Next.js does for the route: the request's context from its W3C headers.
    return context.with(propagation.extract(ROOT_CONTEXT, headers), async () => {
      const accepted = await acceptUserRun({ deps, uid: userId, now: NOW });
      if (accepted.kind !== "claimed") return Response.json({ success: true, messageGenerated: false });
      const afterResponse = inCurrentTrace(() =>
        runSlotSafely({
          deps,
          claim: accepted.claim,
          now: NOW,
          deliver: (eventId) => processEvent({ deps: events, eventId, now: NOW }),
          runId: headers["x-coaching-run-id"] ?? null,
        }),
      );
      runs.push(Promise.resolve().then(afterResponse));
      return Response.json({ success: true, userId, accepted: true }, { status: 202 });
    });
  };

  const run = await runScheduler({
    store: createFirestoreSchedulerStore(db),
    dispatcher: createHttpDispatcher({
      appUrl: "http://processor.test",
      cronSecret: "a-cron-secret-of-length",
      timeoutMs: 10_000,
      fetchImpl: processorStandIn,
    }),
    settings: schedulerSettingsFromConfig(config),
    now: NOW,
    trigger: "test",
    runId: `run-${NOW}`,
    elapsedMs: () => 0,
    random: () => 0.5,
  });
  await Promise.all(runs);
  // A copy: the reads below are traced too, and no part of the run.
  const spans = [...exporter.getFinishedSpans()];
  const messages = await db.collection("coachingMessages").where("uid", "==", uid).get();
  const storedRun = (await db.collection("schedulerRuns").doc(run.runId).get()).data() as SchedulerRunRecord;
  return {
    run,
    storedRun,
    spans,
    headersSeen,
    messages: messages.docs.map((document) => document.data() as StoredMessage),
  };
}

const named = (spans: readonly ReadableSpan[], name: string) => spans.filter((span) => span.name === name);

function only(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const matching = named(spans, name);
  expect(matching, name).toHaveLength(1);
  return matching[0] as ReadableSpan;
}

/** Every span's attributes and events (names and attributes) as one text, to search for content. */
function recordedText(spans: readonly ReadableSpan[]): string {
  return JSON.stringify(
    spans.map((span) => ({
      name: span.name,
      attributes: span.attributes,
      status: span.status,
      events: span.events.map((event) => ({ name: event.name, attributes: event.attributes })),
    })),
  );
}

/** Whether `ancestor` is `span`'s parent, or its parent's, and so on. */
function descendsFrom(spans: readonly ReadableSpan[], span: ReadableSpan, ancestor: ReadableSpan): boolean {
  const byId = new Map(spans.map((each) => [each.spanContext().spanId, each]));
  let parentId = span.parentSpanContext?.spanId;
  while (parentId) {
    if (parentId === ancestor.spanContext().spanId) return true;
    parentId = byId.get(parentId)?.parentSpanContext?.spanId;
  }
  return false;
}

describe("a trace that is not sampled", () => {
  it("gives no trace id to the message, the run or the log lines: no id that leads to nothing", async () => {
    const unsampled = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: TraceFlags.NONE,
      isRemote: true,
    });
    const lines = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const traceId = await context.with(unsampled, () =>
      inSpan("probe", {}, async () => {
        logger.info("probe line");
        return currentTraceId();
      }),
    );
    expect(traceId).toBeNull();
    expect(lines.mock.calls.map(([line]) => String(line)).join("\n")).not.toContain("0af7651916cd43dd");
    lines.mockRestore();
  });
});

describe("a processed user's trace", () => {
  it("is one trace from the tick through the dispatch, the processor's steps and LLM calls to the outbox handler, with its id on the message, the run summary and the run's log lines", async () => {
    const logLines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void logLines.push(line));
    const { run, storedRun, spans, headersSeen, messages } = await tickOverOneUser();

    expect(run.results).toMatchObject({ usersDue: 1, jobsCreated: 1, errors: 0 });
    const tick = only(spans, "scheduler.tick");
    const traceId = tick.spanContext().traceId;
    expect(tick.parentSpanContext).toBeUndefined();
    expect(tick.attributes).toMatchObject({ "coaching.run_id": run.runId, "coaching.jobs_created": 1 });

    // The dispatch carried the trace to the processor: its span is the parent of the claim.
    const dispatch = only(spans, "scheduler.dispatch");
    expect(dispatch.parentSpanContext?.spanId).toBe(tick.spanContext().spanId);
    expect(headersSeen[0]?.traceparent).toBe(`00-${traceId}-${dispatch.spanContext().spanId}-01`);
    const accept = only(spans, "processor.accept");
    expect(accept.parentSpanContext?.spanId).toBe(dispatch.spanContext().spanId);
    expect(accept.attributes).toMatchObject({ "coaching.accept": "claimed", "coaching.uid": "traced" });

    const processorRun = only(spans, "processor.run");
    expect(processorRun.attributes).toMatchObject({
      "coaching.outcome": "sent",
      "coaching.message_generated": true,
    });
    const generate = only(spans, "processor.generate");
    const store = only(spans, "processor.store");
    const complete = only(spans, "processor.complete");
    for (const step of [generate, store, complete])
      expect(descendsFrom(spans, step, processorRun)).toBe(true);

    // The AI SDK's spans: the generation and the scoring calls, inside the generate step.
    const llmSpans = spans.filter((span) => span.instrumentationScope.name === "gen_ai");
    expect(llmSpans.length).toBeGreaterThanOrEqual(2);
    for (const span of llmSpans) expect(descendsFrom(spans, span, generate)).toBe(true);
    expect(llmSpans.map((span) => span.name)).toEqual(
      expect.arrayContaining(["invoke_agent test/coach", "invoke_agent test/scorer"]),
    );

    // The batch that stored the sent message, and the outbox's delivery of it.
    const commits = named(spans, "firestore.batch_commit");
    expect(commits.map((span) => span.attributes["coaching.operation"])).toContain("store sent message");
    const outboxEvent = only(spans, "outbox.event");
    const handler = only(spans, "outbox.handle");
    expect(handler.attributes).toMatchObject({
      "coaching.event_type": EVENT_TYPES.coachingMessageCreated,
      "coaching.handled": true,
    });
    expect(descendsFrom(spans, handler, outboxEvent)).toBe(true);
    expect(outboxEvent.attributes).toMatchObject({ "coaching.event_result": "processed" });

    // All of it one trace.
    for (const span of spans)
      expect({ name: span.name, traceId: span.spanContext().traceId }).toEqual({ name: span.name, traceId });

    // The trace id where an operator starts: the message, the run summary, the run's log lines.
    expect(messages).toHaveLength(1);
    expect(messages[0]?.traceId).toBe(traceId);
    expect(run.traceId).toBe(traceId);
    expect(storedRun.traceId).toBe(traceId);
    // As the admin pages read them (the runs page, the user page's message list).
    expect(parseRunSummary(run.runId, storedRun).traceId).toBe(traceId);
    expect(parseMessageView("message", messages[0]).traceId).toBe(traceId);
    const processed = logLines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.message === "slot processed");
    expect(processed).toMatchObject({ component: "processor", uid: "traced", runId: run.runId, traceId });

    // No journal text, and no message text, in any span.
    const recorded = recordedText(spans);
    for (const line of JOURNAL_LINES) expect(recorded).not.toContain(line.slice(0, 40));
    expect(recorded).not.toContain("Marguerite");
    expect(recorded).not.toContain(messages[0]?.messageContent.slice(0, 40));
    expect(recorded).not.toContain("gen_ai.input.messages");
    expect(recorded).not.toContain("gen_ai.output.messages");
  });

  it("records the prompt and the output in the LLM calls' spans only with OTEL_RECORD_CONTENT=true", async () => {
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    const { spans, messages } = await tickOverOneUser({ OTEL_RECORD_CONTENT: "true" });
    expect(messages[0]?.status).toBe("sent");
    const llmText = recordedText(spans.filter((span) => span.instrumentationScope.name === "gen_ai"));
    expect(llmText).toContain("Marguerite");
    // Ours never do, whatever the setting.
    expect(recordedText(spans.filter((span) => span.instrumentationScope.name !== "gen_ai"))).not.toContain(
      "Marguerite",
    );
  });
});
