import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BOOTSTRAP_MAX_HOURS, isInsideWindow, nextWindowTarget } from "@/core/schedule";
import { eventually } from "../support/eventually";
import { clearCollection, type EmulatorHandle, putDocuments, startTestEmulator } from "../support/firestore";
import { type NextServer, startNextServer } from "../support/next-server";
import { quietWrites } from "../support/quiet-writes";
import { type RecordingServer, startRecordingServer } from "../support/recording-server";
import { userDocument } from "../support/users";
import { zoneInsideWindow, zoneOutsideWindow } from "../support/zones";

const SECRET = "scheduler-test-secret-0123456789";
const PATH = "/api/coaching/generateCoachingMessage/scheduler";
const PROCESSOR_PATH = "/api/coaching/generateCoachingMessage/processor";
const HOUR = 3_600_000;
/** The chain id a cron tick at `now` starts (services/scheduler.ts `cronChainId`). */
const chainIdAt = (now: number) => `cron_${new Date(now).toISOString().slice(0, 13)}`;

let handle: EmulatorHandle;
let db: FirebaseFirestore.Firestore;
let projectId: string;
let processor: RecordingServer;
let server: NextServer;

beforeAll(async () => {
  handle = await startTestEmulator();
  ({ projectId, db } = handle.freshProject("scheduler"));
  processor = await startRecordingServer(() => ({ status: 202, body: { success: true, accepted: true } }));
  server = await startNextServer({
    FIRESTORE_EMULATOR_HOST: handle.emulator.host,
    FIREBASE_PROJECT_ID: projectId,
    CRON_SECRET: SECRET,
    APP_URL: processor.url,
  });
});

afterAll(async () => {
  await server?.stop();
  await processor?.stop();
  await handle?.stop();
});

beforeEach(async () => {
  await clearCollection(db, "users");
  await clearCollection(db, "schedulerRuns");
  // Every GET is step 0 of its hour's chain: a second GET in the same hour would be a duplicate.
  await clearCollection(db, "schedulerChainSteps");
  processor.clear();
  processor.respondWith(() => ({ status: 202, body: { success: true, accepted: true } }));
});

function call(init: RequestInit & { token?: string | null } = {}) {
  const { token = SECRET, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  return fetch(`${server.url}${PATH}`, { ...rest, headers });
}

async function runCount() {
  return (await db.collection("schedulerRuns").count().get()).data().count;
}

async function dueOf(uid: string) {
  return (await db.collection("users").doc(uid).get()).get("nextCoachingMessageDue") as number | null;
}

describe("scheduler route: refusals", () => {
  it.each([
    ["no Authorization header", null],
    ["a wrong secret", "not-the-secret-at-all-000000000"],
    ["a wrong secret of the same length", `${SECRET.slice(0, -1)}x`],
    ["Bearer undefined", "undefined"],
  ])("answers 401 to %s and writes nothing", async (_case, token) => {
    await putDocuments(db, "users", [["due", userDocument({ nextCoachingMessageDue: Date.now() - HOUR })]]);
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    for (const method of ["GET", "POST"]) {
      const response = await call({ method, token });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ success: false, error: expect.any(String) });
    }
    expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
    expect(await runCount()).toBe(0);
    expect(processor.requests).toEqual([]);
  });

  it.each(["PUT", "PATCH", "DELETE"])("answers %s with 405 in the API's error shape", async (method) => {
    const response = await call({ method });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, POST");
    expect(await response.json()).toEqual({
      success: false,
      error: expect.stringContaining("method not allowed"),
    });
    expect(await runCount()).toBe(0);
  });

  it.each([
    ["text that is not JSON", "run please"],
    ["a JSON array", "[1, 2]"],
    ["a limit that is not a number", '{"limit":"ten"}'],
    ["an unknown field", '{"dryRun":true}'],
    [
      "a continuation whose minute share is not at the start of a minute",
      JSON.stringify({
        continuation: {
          chainId: chainIdAt(Date.now()),
          step: 1,
          after: null,
          minuteShare: { minute: Math.floor(Date.now() / 60_000) * 60_000 + 1, dispatched: 10 },
        },
      }),
    ],
    [
      "a continuation with a chain id not of a cron tick",
      '{"continuation":{"chainId":"x","step":1,"after":null}}',
    ],
    ["a continuation of step 0", '{"continuation":{"chainId":"cron_2026-11-30T05","step":0,"after":null}}'],
    [
      "a continuation beyond the chain's length",
      '{"continuation":{"chainId":"cron_2026-11-30T05","step":100,"after":null}}',
    ],
    [
      "a continuation with a rank no due time carries",
      '{"continuation":{"chainId":"cron_2026-11-30T05","step":1,"after":{"due":1,"rank":5}}}',
    ],
    [
      "a continuation with an unknown field",
      '{"continuation":{"chainId":"cron_2026-11-30T05","step":1,"after":null,"force":true}}',
    ],
    [
      "a limit and a continuation",
      '{"limit":2,"continuation":{"chainId":"cron_2026-11-30T05","step":1,"after":null}}',
    ],
    [
      "a continuation of a chain from an earlier hour",
      JSON.stringify({ continuation: { chainId: chainIdAt(Date.now() - 2 * HOUR), step: 1, after: null } }),
    ],
    [
      // No step is started after minute 55: a step of the last hour's chain is a late or replayed
      // delivery, which would dispatch beside this hour's chain.
      "a continuation of the previous hour's chain",
      JSON.stringify({ continuation: { chainId: chainIdAt(Date.now() - HOUR), step: 1, after: null } }),
    ],
    [
      "a continuation of a chain from a later hour",
      JSON.stringify({ continuation: { chainId: chainIdAt(Date.now() + 2 * HOUR), step: 1, after: null } }),
    ],
    [
      "a continuation cursor beyond any date",
      JSON.stringify({
        continuation: { chainId: chainIdAt(Date.now()), step: 1, after: { due: 1e300, rank: 0.5 } },
      }),
    ],
  ])("answers a POST with %s with 400 and writes nothing", async (_case, body) => {
    await putDocuments(db, "users", [["fresh", userDocument({ nextCoachingMessageDue: null })]]);
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    const response = await call({ method: "POST", body, headers: { "content-type": "application/json" } });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ success: false, error: expect.stringContaining("request body") });
    expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
    expect(await dueOf("fresh")).toBeNull();
    expect(await runCount()).toBe(0);
  });
});

describe("scheduler route: a tick", () => {
  it("dispatches in-window users once, reschedules, parks and bootstraps per the rules, and stores the run", async () => {
    const now = Date.now();
    const morningIn = zoneInsideWindow(now, "morning");
    const eveningIn = zoneInsideWindow(now, "evening");
    const morningOut = zoneOutsideWindow(now, "morning");
    await putDocuments(db, "users", [
      [
        "in-1",
        userDocument({
          timezone: morningIn,
          timePreference: "morning",
          nextCoachingMessageDue: now - 2 * HOUR,
        }),
      ],
      [
        "in-2",
        userDocument({ timezone: eveningIn, timePreference: "evening", nextCoachingMessageDue: now - 5_000 }),
      ],
      [
        "out",
        userDocument({ timezone: morningOut, timePreference: "morning", nextCoachingMessageDue: now - HOUR }),
      ],
      ["disabled", userDocument({ timezone: morningIn, enabled: false, nextCoachingMessageDue: now - HOUR })],
      ["new", userDocument({ frequency: "multipleTimesPerWeek", nextCoachingMessageDue: null })],
      ["new-off", userDocument({ enabled: false, nextCoachingMessageDue: null })],
      ["later", userDocument({ timezone: morningIn, nextCoachingMessageDue: now + HOUR })],
    ]);

    const response = await call({ method: "GET", headers: { "user-agent": "vercel-cron/1.0" } });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({
      success: true,
      runId: expect.any(String),
      results: {
        usersDue: 4,
        usersBootstrapped: 1,
        jobsCreated: 2,
        errors: 0,
        rescheduledOutsideWindow: 1,
        skippedDisabled: 2,
      },
    });

    const dispatched = processor.requests.map((request) => JSON.parse(request.body).userId).sort();
    expect(dispatched).toEqual(["in-1", "in-2"]);
    for (const request of processor.requests) {
      expect(request.method).toBe("POST");
      expect(request.path).toBe(PROCESSOR_PATH);
      expect(request.headers.authorization).toBe(`Bearer ${SECRET}`);
      expect(request.headers["x-coaching-run-id"]).toBe(body.runId);
    }

    // Dispatched users stay as they were: the processor reschedules them.
    expect(await dueOf("in-1")).toBe(now - 2 * HOUR);
    const outDue = await dueOf("out");
    expect(outDue).toBeGreaterThan(now);
    expect(isInsideWindow({ at: outDue as number, timezone: morningOut, timePreference: "morning" })).toBe(
      true,
    );
    expect(
      Math.abs(
        (outDue as number) - nextWindowTarget({ now, timezone: morningOut, timePreference: "morning" }),
      ),
    ).toBeLessThan(60_000);
    expect(await dueOf("disabled")).toBeGreaterThan(now + 23 * HOUR);
    const bootstrapped = (await dueOf("new")) as number;
    expect(bootstrapped - now).toBeGreaterThanOrEqual(HOUR - 60_000);
    expect(bootstrapped - now).toBeLessThanOrEqual(BOOTSTRAP_MAX_HOURS.multipleTimesPerWeek * HOUR + 60_000);
    expect(await dueOf("new-off")).toBeGreaterThan(now + 23 * HOUR);
    expect(await dueOf("later")).toBe(now + HOUR);

    const run = (await db.collection("schedulerRuns").doc(body.runId).get()).data();
    expect(run).toMatchObject({
      status: "completed",
      trigger: "cron",
      results: body.results,
      userResults: {
        "in-1": { result: "dispatched" },
        out: { result: "rescheduled_outside_window" },
        new: { result: "bootstrapped" },
      },
    });
    expect(run?.finishedAt).toBeGreaterThanOrEqual(run?.startedAt);
  });

  it("finds and schedules users that no due-time query returns: no due field, a Timestamp, a string", async () => {
    const now = Date.now();
    await db.doc("systemState/unscheduledSweep").delete();
    await putDocuments(db, "users", [
      ["missing", userDocument({ frequency: "daily" })],
      ["timestamp", { ...userDocument({ frequency: "daily" }), nextCoachingMessageDue: new Date(now) }],
      ["text", { ...userDocument({ frequency: "daily" }), nextCoachingMessageDue: "tomorrow" }],
      ["off", userDocument({ enabled: false })],
      ["scheduled", userDocument({ nextCoachingMessageDue: now + HOUR })],
    ]);
    const response = await call({ method: "GET", headers: { "user-agent": "vercel-cron/1.0" } });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body.results).toMatchObject({
      usersSwept: 5,
      sweepWrapped: true,
      usersBootstrapped: 3,
      skippedDisabled: 1,
      errors: 0,
    });
    for (const uid of ["missing", "timestamp", "text"]) {
      const due = await dueOf(uid);
      expect(typeof due, uid).toBe("number");
      expect((due as number) - now).toBeGreaterThanOrEqual(HOUR - 60_000);
      expect((due as number) - now).toBeLessThanOrEqual(BOOTSTRAP_MAX_HOURS.daily * HOUR + 60_000);
    }
    const parked = (await db.collection("users").doc("off").get()).data();
    expect(parked?.nextCoachingMessageDue).toBeGreaterThan(now + 23 * HOUR);
    expect(parked?.coachingParkedUntil).toBe(parked?.nextCoachingMessageDue);
    expect(await dueOf("scheduled")).toBe(now + HOUR);
    expect(processor.requests).toEqual([]);
  });

  it("dispatches each due user exactly once per tick, even when three ticks overlap", async () => {
    const now = Date.now();
    const zone = zoneInsideWindow(now, "afternoon");
    await putDocuments(
      db,
      "users",
      Array.from({ length: 12 }, (_, index) => [
        `user-${index}`,
        userDocument({
          timezone: zone,
          timePreference: "afternoon",
          nextCoachingMessageDue: now - HOUR - (index % 3),
        }),
      ]),
    );
    const responses = await Promise.all([1, 2, 3].map(() => call({ method: "POST" })));
    const runIds = await Promise.all(
      responses.map(async (response) => (await response.json()).runId as string),
    );
    expect(new Set(runIds).size).toBe(3);
    for (const runId of runIds) {
      const users = processor.requests
        .filter((request) => request.headers["x-coaching-run-id"] === runId)
        .map((request) => JSON.parse(request.body).userId);
      expect(users).toHaveLength(12);
      expect(new Set(users).size).toBe(12);
    }
  });

  it("counts a failed dispatch as an error and leaves that user due for the next tick", async () => {
    const now = Date.now();
    const zone = zoneInsideWindow(now, "morning");
    await putDocuments(db, "users", [
      ["ok", userDocument({ timezone: zone, nextCoachingMessageDue: now - HOUR })],
      ["refused", userDocument({ timezone: zone, nextCoachingMessageDue: now - HOUR })],
    ]);
    processor.respondWith((request) =>
      JSON.parse(request.body).userId === "refused"
        ? { status: 500, body: { success: false } }
        : { status: 202 },
    );
    const body = await (await call({ method: "POST" })).json();
    expect(body.results).toMatchObject({ usersDue: 2, jobsCreated: 1, errors: 1 });
    expect(await dueOf("refused")).toBe(now - HOUR);
    const run = (await db.collection("schedulerRuns").doc(body.runId).get()).data();
    expect(run?.userResults.refused).toEqual({
      result: "dispatch_failed",
      detail: "processor answered HTTP 500",
    });
  });

  it("fans out to APP_URL whatever Host and forwarded headers the request carries", async () => {
    const now = Date.now();
    await putDocuments(db, "users", [
      ["u", userDocument({ timezone: zoneInsideWindow(now, "morning"), nextCoachingMessageDue: now - HOUR })],
    ]);
    const response = await call({
      method: "POST",
      headers: {
        "x-forwarded-host": "attacker.invalid",
        "x-forwarded-proto": "https",
        forwarded: "host=attacker.invalid",
      },
    });
    expect((await response.json()).results.jobsCreated).toBe(1);
    expect(processor.requests).toHaveLength(1);
  });

  it("honours a manual limit and reports that more users wait", async () => {
    const now = Date.now();
    const zone = zoneInsideWindow(now, "morning");
    await putDocuments(
      db,
      "users",
      Array.from({ length: 5 }, (_, index) => [
        `u${index}`,
        userDocument({ timezone: zone, nextCoachingMessageDue: now - index }),
      ]),
    );
    const body = await (await call({ method: "POST", body: JSON.stringify({ limit: 2 }) })).json();
    expect(body.results).toMatchObject({ usersDue: 2, jobsCreated: 2, hasMore: true });
  });
});

describe("scheduler route: a chain step", () => {
  it("accepts a continuation with 202, then runs the step after the response and records it", async () => {
    const now = Date.now();
    const zone = zoneInsideWindow(now, "morning");
    await putDocuments(db, "users", [
      [
        "c1",
        { ...userDocument({ timezone: zone, nextCoachingMessageDue: now - HOUR }), coachingDueRank: 0.25 },
      ],
      [
        "c2",
        { ...userDocument({ timezone: zone, nextCoachingMessageDue: now - HOUR }), coachingDueRank: 0.75 },
      ],
    ]);
    const continuation = { chainId: chainIdAt(now), step: 3, after: { due: now - HOUR, rank: 0.5 } };
    const response = await call({ method: "POST", body: JSON.stringify({ continuation }) });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({
      success: true,
      accepted: true,
      chainId: continuation.chainId,
      step: 3,
    });
    const runs = await eventually(
      async () => (await db.collection("schedulerRuns").get()).docs.map((document) => document.data()),
      (found) => found.some((run) => run.status === "completed"),
    );
    // Only the user after the cursor: c1 (rank 0.25) was handled by an earlier step.
    expect(processor.requests.map((request) => JSON.parse(request.body).userId)).toEqual(["c2"]);
    expect(runs[0]).toMatchObject({
      trigger: "continuation",
      chain: {
        chainId: continuation.chainId,
        step: 3,
        attempt: 1,
        duplicateOf: null,
        startedAfter: continuation.after,
      },
      results: { jobsCreated: 1 },
    });
    // The same continuation again (a retried request): the step is taken, nothing is dispatched.
    const again = await call({ method: "POST", body: JSON.stringify({ continuation }) });
    expect(again.status).toBe(202);
    await eventually(
      async () => (await db.collection("schedulerRuns").get()).docs.map((document) => document.data()),
      (found) => found.length === 2 && found.every((run) => run.status === "completed"),
    );
    expect(processor.requests).toHaveLength(1);
  });

  it("accepts a cursor at any due time a user can hold (not only whole numbers)", async () => {
    const continuation = { chainId: chainIdAt(Date.now()), step: 2, after: { due: 1.5, rank: 0.5 } };
    const response = await call({ method: "POST", body: JSON.stringify({ continuation }) });
    expect(response.status).toBe(202);
    await eventually(
      async () => (await db.collection("schedulerRuns").get()).docs.map((document) => document.data()),
      (found) => found.length === 1 && found[0]?.status === "completed",
    );
  });
});

describe("test route in production", () => {
  it("is closed (404, nothing written) when ENABLE_TEST_ROUTES is not set, even with the secret", async () => {
    // The earlier tests' ticks go on after their responses (the metrics rollup, the alert
    // evaluation): their writes are not this request's, so they are waited out first.
    const writes = () => handle.emulator.stats(projectId).writes;
    const writesBefore = await quietWrites(writes);
    const response = await fetch(`${server.url}/api/coaching/generateCoachingMessage/test`, {
      method: "POST",
      headers: { authorization: `Bearer ${SECRET}`, "content-type": "application/json" },
      body: JSON.stringify({ action: "test-scheduler" }),
    });
    expect(response.status).toBe(404);
    expect(await quietWrites(writes)).toBe(writesBefore);
  });
});
