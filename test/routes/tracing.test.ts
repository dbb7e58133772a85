/**
 * Traces through the built app: `src/instrumentation.ts` registers `@vercel/otel` with
 * OTEL_DEBUG (spans printed by the server), the scheduler route's tick dispatches over HTTP to the
 * processor route, Next.js joins that request to the dispatch's `traceparent`, and the run after
 * the response (`after()`) stays in the trace: the message and the run summary hold one trace id.
 * Without an exporter or OTEL_DEBUG nothing is traced.
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/eventually";
import type { NextServer } from "../support/next-server";
import { seedDueUser } from "../support/processor";
import { caller, type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "tracing-route-secret-0123456789";
const SCHEDULER = "/api/coaching/generateCoachingMessage/scheduler";
const JOURNAL_LINE = "Quietly worried that Ottoline will notice the overdraft before Friday.";

let stack: RouteStack;
let db: Firestore;
let server: NextServer;

beforeAll(async () => {
  stack = await startRouteStack({ prefix: "tracing", cronSecret: SECRET, env: { OTEL_DEBUG: "1" } });
  ({ db, server } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

const call = caller(() => server, { method: "POST", token: SECRET });

describe("traces through the app (OTEL_DEBUG)", () => {
  it("gives the tick's run summary and the message its processor run stored the same trace id, and prints no journal text", async () => {
    await seedDueUser(db, { uid: "traced-route", now: Date.now(), entries: [JOURNAL_LINE] });
    const response = await call(SCHEDULER, { body: {} });
    expect(response.status).toBe(200);
    const { runId, results } = (await response.json()) as { runId: string; results: { jobsCreated: number } };
    expect(results.jobsCreated).toBe(1);

    const run = (await db.collection("schedulerRuns").doc(runId).get()).data();
    expect(run?.traceId).toMatch(/^[0-9a-f]{32}$/);
    const message = await eventually(
      async () => {
        const stored = await db.collection("coachingMessages").where("uid", "==", "traced-route").get();
        return stored.docs.map((document) => document.data()).find((data) => data.status === "sent");
      },
      (sent) => sent !== undefined,
    );
    expect(message?.traceId).toBe(run?.traceId);

    // The spans were printed with that trace id, and the run's log lines carry it.
    const spanNames = ["scheduler.tick", "scheduler.dispatch", "processor.run", "outbox.handle"];
    const output = await eventually(
      async () => server.output(),
      (printed) =>
        spanNames.every((name) => printed.includes(`name: '${name}'`)) &&
        printed.includes(`"message":"slot processed"`),
    );
    expect(output).toContain(`traceId: '${run?.traceId}'`);
    const slotLine = output.split("\n").find((line) => line.includes(`"message":"slot processed"`));
    expect(JSON.parse(slotLine ?? "{}")).toMatchObject({
      component: "processor",
      uid: "traced-route",
      runId,
      traceId: run?.traceId,
    });
    expect(output).not.toContain("Ottoline");
  });
});
