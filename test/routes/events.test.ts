import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EventRecord, messageCreatedEventId, newEvent } from "@/core/events";
import type { MailCatcher } from "../../scripts/local-stack/mail-catcher";
import { eventually } from "../support/eventually";
import { type EmulatorHandle, putDocuments } from "../support/firestore";
import type { NextServer } from "../support/next-server";
import { quietWrites } from "../support/quiet-writes";
import { caller, type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "events-test-secret-0123456789abc";

let stack: RouteStack;
let handle: EmulatorHandle;
let catcher: MailCatcher;
let db: Firestore;
let projectId: string;
let server: NextServer;

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "events-route",
    cronSecret: SECRET,
    env: { EVENT_RETRY_BASE_MS: "60000" },
  });
  ({ handle, catcher, db, projectId, server } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

const call = caller(() => server, { method: "POST", token: SECRET });

/** Users, messages and their pending delivery events, as the processor leaves them. */
async function seedPendingDeliveries(prefix: string, count: number, db = stack.db) {
  const now = Date.now();
  const uids = Array.from({ length: count }, (_, index) => `${prefix}-${index}`);
  await putDocuments(
    db,
    "users",
    uids.map((uid) => [
      uid,
      {
        email: `${uid}@example.com`,
        timezone: "UTC",
        coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
        nextCoachingMessageDue: now + 3_600_000,
      },
    ]),
  );
  await putDocuments(
    db,
    "coachingMessages",
    uids.map((uid) => [
      `${uid}_1`,
      {
        id: `${uid}_1`,
        uid,
        slotId: `${uid}_1`,
        messageContent: `A message for ${uid}.`,
        pushNotificationText: "A note for you",
        // Delivery events are handled only for messages that are sent and in the journal.
        status: "sent",
        journalEntryId: `coaching_${uid}_1`,
        delivery: {
          email: { status: "pending", providerId: null, error: null, attemptedAt: null },
          push: { status: "pending", text: null },
        },
      },
    ]),
  );
  const events = uids.map((uid, index) =>
    newEvent({
      id: messageCreatedEventId(`${uid}_1`),
      eventType: "coaching.message.created",
      aggregateId: `${uid}_1`,
      aggregateType: "coachingMessage",
      payload: { messageId: `${uid}_1`, uid, slotId: `${uid}_1` },
      createdBy: "test",
      now: now - count + index,
    }),
  );
  await putDocuments(
    db,
    "events",
    events.map((event) => [event.id, { ...event }]),
  );
  return events;
}

const statusCount = async (status: string, prefix: string, database = db) =>
  (await database.collection("events").where("status", "==", status).get()).docs.filter((document) =>
    (document.get("aggregate_id") as string).startsWith(prefix),
  ).length;

describe("event routes: refusals write nothing", () => {
  it.each([
    ["/api/events/process-event", "POST", { event_id: "x" }, null, 401],
    ["/api/events/process-batch", "POST", {}, "not-the-secret-000000000000000", 401],
    ["/api/events/health", "GET", undefined, null, 401],
    ["/api/events/process-event", "POST", "{oops", SECRET, 400],
    ["/api/events/process-event", "POST", {}, SECRET, 400],
    ["/api/events/process-event", "POST", { event_id: 7 }, SECRET, 400],
    ["/api/events/process-event", "POST", { event_id: "a/b" }, SECRET, 400],
    ["/api/events/process-event", "POST", { event_id: "no-such-event" }, SECRET, 404],
    ["/api/events/process-batch", "POST", { extra: true }, SECRET, 400],
    ["/api/admin/events/no-such-event/replay", "POST", undefined, SECRET, 404],
    ["/api/admin/events/anything/replay", "POST", undefined, null, 401],
    ["/api/events/process-batch", "POST", { continuation: 11 }, SECRET, 400],
    // Past EVENT_MAX_CONTINUATIONS (4 by default): a chain of drains always ends.
    ["/api/events/process-batch", "POST", { continuation: 5 }, SECRET, 400],
    ["/api/events/process-batch", "POST", { continuation: 0 }, SECRET, 400],
    ["/api/admin/events/requeue-dead-letters", "POST", { confirmCount: 1 }, null, 401],
    ["/api/admin/events/requeue-dead-letters", "GET", undefined, null, 401],
    ["/api/admin/events/requeue-dead-letters", "POST", {}, SECRET, 400],
    ["/api/admin/events/requeue-dead-letters", "POST", { confirmCount: 0 }, SECRET, 400],
    ["/api/admin/events/requeue-dead-letters", "POST", { confirmCount: 501 }, SECRET, 400],
  ] as const)("%s %s with %j is refused, nothing written", async (path, method, body, token, status) => {
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    const response = await call(path, { method, body, token });
    expect(response.status).toBe(status);
    expect(await response.json()).toEqual({ success: false, error: expect.any(String) });
    expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
  });
});

describe("event routes: processing", () => {
  it("5 concurrent process-batch calls over 100 pending events → 100 emails, each event processed once", async () => {
    await seedPendingDeliveries("batch", 100);
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => call("/api/events/process-batch", { body: {} })),
    );
    for (const response of responses) {
      expect(response.status).toBe(202);
      expect(await response.json()).toEqual({ success: true, accepted: true });
    }
    await eventually(
      () => statusCount("processed", "batch-"),
      (count) => count === 100,
    );
    const batchEmails = catcher.emails.filter((email) => email.to[0]?.startsWith("batch-"));
    expect(batchEmails).toHaveLength(100);
    expect(new Set(batchEmails.map((email) => email.to[0])).size).toBe(100);
    const attempts = catcher.attempts.filter((attempt) => attempt.idempotencyKey?.includes("batch-"));
    expect(attempts).toHaveLength(100);
  });

  it("process-event runs one event on demand (202), and the cron's GET drains the queue", async () => {
    const [first, second] = await seedPendingDeliveries("single", 2);
    const response = await call("/api/events/process-event", { body: { event_id: first?.id } });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ success: true, event_id: first?.id, accepted: true });
    await eventually(
      async () => (await db.doc(`events/${first?.id}`).get()).get("status"),
      (status) => status === "processed",
    );
    expect((await db.doc(`events/${second?.id}`).get()).get("status")).toBe("pending");
    expect((await call("/api/events/process-batch", { method: "GET" })).status).toBe(202);
    await eventually(
      async () => (await db.doc(`events/${second?.id}`).get()).get("status"),
      (status) => status === "processed",
    );
  });

  it("replays a dead letter through the admin API: it leaves the dead letters and the email goes out once", async () => {
    const [event] = await seedPendingDeliveries("replay", 1);
    const id = event?.id ?? "";
    catcher.queueFaults([{ status: 422, name: "validation_error", message: "bad from" }]);
    await call("/api/events/process-event", { body: { event_id: id } });
    await eventually(
      async () => (await db.doc(`eventDeadLetters/${id}`).get()).exists,
      (exists) => exists,
    );
    const replay = await call(`/api/admin/events/${encodeURIComponent(id)}/replay`);
    expect(replay.status).toBe(202);
    await eventually(
      async () => (await db.doc(`events/${id}`).get()).get("status"),
      (status) => status === "processed",
    );
    expect((await db.doc(`eventDeadLetters/${id}`).get()).exists).toBe(false);
    expect(catcher.emails.filter((email) => email.to[0] === "replay-0@example.com")).toHaveLength(1);
  });
});

describe("health", () => {
  it("reports counts that match the store, the configuration and the registry", async () => {
    await seedPendingDeliveries("health", 3);
    const body = await (await call("/api/events/health", { method: "GET" })).json();
    const all = (await db.collection("events").get()).docs.map((document) => document.data() as EventRecord);
    // Sharded (`totals_${k}`), plus the single document of older versions.
    const totals = {
      totalProcessed: 0,
      successCount: 0,
      errorCount: 0,
      lastProcessedAt: null as number | null,
    };
    for (const document of (await db.collection("eventStats").get()).docs) {
      if (!document.id.startsWith("totals")) continue;
      totals.totalProcessed += document.get("totalProcessed") ?? 0;
      totals.successCount += document.get("successCount") ?? 0;
      totals.errorCount += document.get("errorCount") ?? 0;
      totals.lastProcessedAt = Math.max(totals.lastProcessedAt ?? 0, document.get("lastProcessedAt") ?? 0);
    }
    const pending = all.filter((event) => event.status === "pending");
    const readyTimes = pending.map((event) => event.next_attempt_at).filter((at) => at <= Date.now());
    const oldestReady = readyTimes.length > 0 ? Math.min(...readyTimes) : null;
    expect(body).toMatchObject({
      success: true,
      // Backlogged once a pending event has been ready for over 15 minutes (this file's are fresh,
      // unless the backlog test ran first).
      status: oldestReady !== null && Date.now() - oldestReady > 15 * 60_000 ? "backlogged" : "healthy",
      uptime: expect.any(Number),
      stats: {
        totalProcessed: totals.totalProcessed,
        successCount: totals.successCount,
        errorCount: totals.errorCount,
        lastProcessedAt: totals.lastProcessedAt,
        deadLetterCount: (await db.collection("eventDeadLetters").count().get()).data().count,
        pendingCount: pending.length,
      },
      config: {
        batchSize: 20,
        maxRetries: 50,
        retryBaseDelayMs: 60_000,
        retryMaxAgeMs: 23 * 3_600_000,
        email: "resend",
      },
    });
    // Every handler run either succeeded or failed; one success per processed event (replays reset attempts).
    expect(body.stats.totalProcessed).toBe(body.stats.successCount + body.stats.errorCount);
    expect(body.stats.successCount).toBe(all.filter((event) => event.status === "processed").length);
    expect(body.stats.oldestReadyWaitMs === null || body.stats.oldestReadyWaitMs >= 0).toBe(true);
    expect(body.registry.map((entry: { eventType: string }) => entry.eventType).sort()).toEqual([
      "alert.notification",
      "coaching.message.created",
      "journal.entry.created",
      "user.coaching.enabled",
    ]);
  });
});

describe("health: backlog", () => {
  it("counts an old event waiting out its retry as no backlog, and one ready for over 15 minutes as one", async () => {
    const now = Date.now();
    const enabling = (id: string) =>
      newEvent({
        id,
        eventType: "user.coaching.enabled",
        aggregateId: "backlog-user",
        aggregateType: "user",
        payload: { uid: "backlog-user" },
        createdBy: "test",
        now: now - 2 * 3_600_000,
      });
    // Created two hours ago, retrying in an hour: waiting out its backoff, not backlogged.
    const retrying = enabling("backlog-retrying");
    await putDocuments(db, "events", [[retrying.id, { ...retrying, next_attempt_at: now + 3_600_000 }]]);
    const waiting = await (await call("/api/events/health", { method: "GET" })).json();
    expect(waiting.stats.oldestReadyWaitMs ?? 0).toBeLessThan(15 * 60_000);
    // Ready for 20 minutes and held by a run's lease for an hour (a run that died): no drain
    // of another test takes it meanwhile.
    const stuck = enabling("backlog-stuck");
    await putDocuments(db, "events", [
      [stuck.id, { ...stuck, next_attempt_at: now - 20 * 60_000, lease_until: now + 3_600_000 }],
    ]);
    const body = await (await call("/api/events/health", { method: "GET" })).json();
    expect(body).toMatchObject({ success: true, status: "backlogged" });
    expect(body.stats.oldestReadyWaitMs).toBeGreaterThanOrEqual(20 * 60_000);
  });
});

describe("bulk requeue of retriable dead letters (operator review, HIGH 1)", () => {
  it("counts the retriable dead letters, requeues up to the confirmed count, and delivers them once", async () => {
    const seeded = await seedPendingDeliveries("requeue-bulk", 3);
    const now = Date.now();
    // Dead-lettered after an outage outlasting the retry window (two), and one permanent failure.
    for (const [index, event] of seeded.entries()) {
      await db.doc(`events/${event.id}`).update({ status: "dead_letter", attempts: 40 });
      await db.doc(`eventDeadLetters/${event.id}`).set({
        event_id: event.id,
        event_type: event.event_type,
        payload: event.payload,
        error_message: "Resend 503 application_error: outage",
        retry_count: 39,
        original_created_at: event.created_at,
        created_at: now,
        retriable: index < 2,
      });
    }
    const counted = await call("/api/admin/events/requeue-dead-letters", { method: "GET" });
    expect(await counted.json()).toEqual({ success: true, retriableDeadLetters: 2 });
    const requeue = await call("/api/admin/events/requeue-dead-letters", { body: { confirmCount: 2 } });
    expect(requeue.status).toBe(202);
    expect(await requeue.json()).toEqual({ success: true, requeued: 2, remaining: 0 });
    await eventually(
      () => statusCount("processed", "requeue-bulk-"),
      (count) => count === 2,
    );
    expect((await db.doc(`events/${seeded[2]?.id}`).get()).get("status")).toBe("dead_letter");
    const sent = catcher.emails.filter((email) => email.to[0]?.startsWith("requeue-bulk-"));
    expect(sent.map((email) => email.to[0]).sort()).toEqual([
      "requeue-bulk-0@example.com",
      "requeue-bulk-1@example.com",
    ]);
  });
});

describe("a drain with more than its budget, and email without RESEND_API_KEY (operator review, HIGH 1 and LOW 11)", () => {
  let small: RouteStack;
  beforeAll(async () => {
    // One event per drain run (a batch of 1, a budget spent at once), three continuations, no key.
    small = await startRouteStack({
      prefix: "events-drain-chain",
      cronSecret: SECRET,
      env: {
        EVENT_BATCH_SIZE: "1",
        EVENT_TIME_BUDGET_MS: "1",
        EVENT_MAX_CONTINUATIONS: "3",
        RESEND_API_KEY: "",
      },
    });
  });
  afterAll(async () => {
    await small?.stop();
  });
  const callSmall = caller(() => small.server, { method: "POST", token: SECRET });

  it("a drain that runs out of budget continues itself, a bounded number of times", async () => {
    await seedPendingDeliveries("chain", 6, small.db);
    expect((await callSmall("/api/events/process-batch", { body: {} })).status).toBe(202);
    // The cron's call and its three continuations: four events, then the chain ends.
    await eventually(
      () => statusCount("processed", "chain-", small.db),
      (count) => count === 4,
    );
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await statusCount("processed", "chain-", small.db)).toBe(4);
    expect(await statusCount("pending", "chain-", small.db)).toBe(2);
  });

  it("records each email as skipped (not configured) and says so in the health route", async () => {
    const processed = (await small.db.collection("events").where("status", "==", "processed").get()).docs;
    expect(processed.length).toBeGreaterThan(0);
    for (const event of processed) {
      const messageId = event.get("payload.messageId") as string;
      const message = await small.db.doc(`coachingMessages/${messageId}`).get();
      expect(message.get("delivery.email")).toMatchObject({
        status: "skipped",
        error: expect.stringContaining("RESEND_API_KEY"),
      });
    }
    expect(small.catcher.attempts).toHaveLength(0);
    const health = await (await callSmall("/api/events/health", { method: "GET" })).json();
    expect(health.config).toMatchObject({ email: "not_configured" });
  });
});
