import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type EventRecord, messageCreatedEventId, newEvent } from "@/core/events";
import type { EventStore } from "@/pipeline/event-ports";
import { type EventProcessorDeps, processEvent } from "@/pipeline/process-events";
import { processUser } from "@/pipeline/process-user";
import type { StoredMessage } from "@/pipeline/processor-ports";
import type { LlmSandbox } from "../../scripts/local-stack/llm-sandbox";
import type { MailCatcher } from "../../scripts/local-stack/mail-catcher";
import { type EmulatorHandle, putDocuments } from "../support/firestore";
import { queriesMissingIndexes, readIndexes } from "../support/index-coverage";
import { drainEvents, realEventDeps, realProcessorDeps, seedDueUser } from "../support/processor";
import { type LocalServices, startLocalServices } from "../support/stack";

let services: LocalServices;
let handle: EmulatorHandle;
let sandbox: LlmSandbox;
let catcher: MailCatcher;
let db: Firestore;
let events: EventProcessorDeps;

beforeAll(async () => {
  services = await startLocalServices();
  ({ handle, sandbox, catcher } = services);
});

afterAll(async () => {
  await services?.stop();
});

beforeEach(() => {
  ({ db } = handle.freshProject("outbox"));
  events = realEventDeps({ db, catcher });
  catcher.emails.length = 0;
  catcher.attempts.length = 0;
});

/** A stored, journaled message with its delivery event, made by the real processor. */
async function storedMessage(uid: string, now: number): Promise<{ eventId: string; messageId: string }> {
  await seedDueUser(db, { uid, now });
  const result = await processUser({ deps: realProcessorDeps({ db, sandbox }), uid, now });
  if (result.kind !== "processed" || !result.result.deliveryEventId || !result.result.messageId) {
    throw new Error(`expected a processed user, got ${JSON.stringify(result)}`);
  }
  return { eventId: result.result.deliveryEventId, messageId: result.result.messageId };
}

async function eventOf(eventId: string): Promise<EventRecord> {
  return (await db.collection("events").doc(eventId).get()).data() as EventRecord;
}

async function messageOf(messageId: string): Promise<StoredMessage> {
  return (await db.collection("coachingMessages").doc(messageId).get()).data() as StoredMessage;
}

/** Runs the event each time it is ready again, the way the cron would, until it settles. */
async function runUntilSettled(eventId: string, start: number, maxRuns = 10) {
  let now = start;
  const runs = [];
  for (let run = 0; run < maxRuns; run += 1) {
    const result = await processEvent({ deps: events, eventId, now });
    runs.push({ now, result });
    if (result.result !== "retry_scheduled") break;
    now = result.nextAttemptAt;
  }
  return runs;
}

const NOW = Date.now();

describe("outbox: the transactional write", () => {
  it("a stored message always has its delivery event, created in the same batch", async () => {
    const { eventId, messageId } = await storedMessage("atomic", NOW);
    expect(eventId).toBe(messageCreatedEventId(messageId));
    expect(await eventOf(eventId)).toMatchObject({
      event_type: "coaching.message.created",
      aggregate_id: messageId,
      aggregate_type: "coachingMessage",
      processed: false,
      status: "pending",
      attempts: 0,
      created_by: "processor",
      payload: { messageId, uid: "atomic" },
    });
  });
});

describe("outbox: retries and dead letters", () => {
  it("Resend failing 4 times then answering 200 → one email, attempts = 5, growing delays within bounds", async () => {
    const { eventId, messageId } = await storedMessage("flaky", NOW);
    catcher.queueFaults([{ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }]);
    const runs = await runUntilSettled(eventId, NOW);
    expect(runs.map((run) => run.result.result)).toEqual([
      "retry_scheduled",
      "retry_scheduled",
      "retry_scheduled",
      "retry_scheduled",
      "processed",
    ]);
    expect(catcher.attempts.map((attempt) => attempt.status)).toEqual([500, 500, 500, 500, 200]);
    expect(catcher.emails).toHaveLength(1);
    const event = await eventOf(eventId);
    expect(event).toMatchObject({ attempts: 5, processed: true, status: "processed", last_error: null });
    const delays = runs.slice(1).map((run, index) => run.now - (runs[index]?.now ?? 0));
    const { baseDelayMs, maxDelayMs } = events.policy;
    delays.forEach((delay, index) => {
      const step = Math.min(maxDelayMs, baseDelayMs * 2 ** index);
      expect(delay).toBeGreaterThanOrEqual(step / 2);
      expect(delay).toBeLessThanOrEqual(step);
      if (index > 0) expect(delay).toBeGreaterThanOrEqual(delays[index - 1] ?? 0);
    });
    expect((await messageOf(messageId)).delivery.email).toMatchObject({
      status: "sent",
      providerId: catcher.emails[0]?.id,
    });
  });

  it("Resend always failing → dead letter after 5 retries with the last error; replay after recovery → exactly one email", async () => {
    const { eventId, messageId } = await storedMessage("down", NOW);
    catcher.queueFaults(
      Array.from({ length: 6 }, (_, index) => ({ status: 503, message: `outage ${index + 1}` })),
    );
    const runs = await runUntilSettled(eventId, NOW);
    expect(runs).toHaveLength(6);
    expect(runs.at(-1)?.result.result).toBe("dead_lettered");
    expect(catcher.emails).toHaveLength(0);
    const letter = (await db.collection("eventDeadLetters").doc(eventId).get()).data();
    expect(letter).toMatchObject({
      event_id: eventId,
      event_type: "coaching.message.created",
      retry_count: 5,
      error_message: expect.stringContaining("outage 6"),
      original_created_at: NOW,
    });
    expect(await eventOf(eventId)).toMatchObject({ status: "dead_letter", attempts: 6 });
    expect((await messageOf(messageId)).delivery.email.status).toBe("failed");

    const later = runs.at(-1)?.now ?? NOW;
    expect(await events.store.requeue({ eventId, now: later })).toBe(true);
    expect((await db.collection("eventDeadLetters").doc(eventId).get()).exists).toBe(false);
    expect(await processEvent({ deps: events, eventId, now: later })).toMatchObject({ result: "processed" });
    expect(catcher.emails).toHaveLength(1);
    // A replay long after delivery sends nothing: the message's own record is the final guard.
    await events.store.requeue({ eventId, now: later + 3 * 24 * 3_600_000 });
    await processEvent({ deps: events, eventId, now: later + 3 * 24 * 3_600_000 });
    expect(catcher.emails).toHaveLength(1);
  });

  it("a crash after the email request, before the event is marked processed → the retry sends no second email", async () => {
    const { eventId } = await storedMessage("crash", NOW);
    const fired: string[] = [];
    const crashing = {
      ...events,
      onStep: (step: string) => {
        if (step === "email_requested") {
          fired.push(step);
          throw new Error("simulated crash after the email request");
        }
      },
    };
    await expect(processEvent({ deps: crashing, eventId, now: NOW })).rejects.toThrow("simulated crash");
    expect(fired).toEqual(["email_requested"]);
    expect(catcher.emails).toHaveLength(1);
    expect(await eventOf(eventId)).toMatchObject({ processed: false, status: "pending" });

    // Held until the lease expires, then retried.
    expect(await processEvent({ deps: events, eventId, now: NOW + 1_000 })).toMatchObject({
      result: "skipped",
      reason: "busy",
    });
    const afterLease = NOW + events.leaseMs + 1;
    expect(await processEvent({ deps: events, eventId, now: afterLease })).toMatchObject({
      result: "processed",
    });
    expect(catcher.attempts.map((attempt) => attempt.idempotencyKey)).toEqual([eventId, eventId]);
    expect(catcher.emails).toHaveLength(1);
  });

  it.each([
    ["an unknown event type", { eventType: "coaching.unheard.of", payload: {} }, "unknown event type"],
    [
      "an invalid payload",
      { eventType: "coaching.message.created", payload: { messageId: 42 } },
      "invalid payload",
    ],
  ])("%s goes to dead letters at once, without retries", async (_case, { eventType, payload }, reason) => {
    const event = newEvent({
      id: `odd-${eventType}`,
      eventType,
      aggregateId: "x",
      aggregateType: "x",
      payload,
      createdBy: "test",
      now: NOW,
    });
    await putDocuments(db, "events", [[event.id, { ...event }]]);
    expect(await processEvent({ deps: events, eventId: event.id, now: NOW })).toMatchObject({
      result: "dead_lettered",
      error: expect.stringContaining(reason),
    });
    expect(await eventOf(event.id)).toMatchObject({ status: "dead_letter", attempts: 1 });
    expect((await db.collection("eventDeadLetters").doc(event.id).get()).get("retry_count")).toBe(0);
  });
});

describe("outbox: concurrency", () => {
  it("5 concurrent batch runs over 100 pending events → each handler runs once per event; 100 emails", async () => {
    const uids = Array.from({ length: 100 }, (_, index) => `bulk-${index}`);
    const users: [string, Record<string, unknown>][] = uids.map((uid) => [
      uid,
      {
        email: `${uid}@example.com`,
        timezone: "UTC",
        coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
        nextCoachingMessageDue: NOW + 3_600_000,
      },
    ]);
    await putDocuments(db, "users", users);
    const message = (uid: string) => ({
      id: `${uid}_1`,
      uid,
      slotId: `${uid}_1`,
      messageContent: `A message for ${uid} about the week ahead.`,
      pushNotificationText: "A note for your week",
      // Delivery events are handled only for messages that are sent and in the journal.
      status: "sent",
      journalEntryId: `coaching_${uid}_1`,
      delivery: {
        email: { status: "pending", providerId: null, error: null, attemptedAt: null },
        push: { status: "pending", text: null },
      },
    });
    await putDocuments(
      db,
      "coachingMessages",
      uids.map((uid) => [`${uid}_1`, message(uid)]),
    );
    await putDocuments(
      db,
      "events",
      uids.map((uid, index) => {
        const event = newEvent({
          id: messageCreatedEventId(`${uid}_1`),
          eventType: "coaching.message.created",
          aggregateId: `${uid}_1`,
          aggregateType: "coachingMessage",
          payload: { messageId: `${uid}_1`, uid, slotId: `${uid}_1` },
          createdBy: "test",
          now: NOW + index,
        });
        return [event.id, { ...event }];
      }),
    );
    const handled: string[] = [];
    const counting = {
      ...events,
      onStep: (step: string, eventId: string) => void (step === "handled" && handled.push(eventId)),
    };
    const summaries = await Promise.all(Array.from({ length: 5 }, () => drainEvents(counting, NOW + 1_000)));
    expect(summaries.reduce((total, summary) => total + summary.processed, 0)).toBe(100);
    expect(handled).toHaveLength(100);
    expect(new Set(handled).size).toBe(100);
    expect(catcher.attempts).toHaveLength(100);
    expect(catcher.emails).toHaveLength(100);
    expect(
      (await db.collection("events").where("status", "==", "processed").count().get()).data().count,
    ).toBe(100);
    expect(JSON.stringify(queriesMissingIndexes(handle.emulator.recordedQueries(), readIndexes()))).toEqual(
      "[]",
    );
  });
});

describe("user.coaching.enabled", () => {
  it("bootstraps a user who switched coaching on", async () => {
    await putDocuments(db, "users", [
      [
        "returning",
        {
          email: "returning@example.com",
          timezone: "UTC",
          coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
          // Parked by the scheduler while coaching was off; a real schedule would be kept.
          nextCoachingMessageDue: NOW + 24 * 3_600_000,
          coachingParkedUntil: NOW + 24 * 3_600_000,
        },
      ],
    ]);
    const event = newEvent({
      id: "user.coaching.enabled_returning_1",
      eventType: "user.coaching.enabled",
      aggregateId: "returning",
      aggregateType: "user",
      payload: { uid: "returning" },
      createdBy: "journaling-app",
      now: NOW,
    });
    await putDocuments(db, "events", [[event.id, { ...event }]]);
    expect(await processEvent({ deps: events, eventId: event.id, now: NOW })).toMatchObject({
      result: "processed",
    });
    const due = (await db.doc("users/returning").get()).get("nextCoachingMessageDue") as number;
    expect(due).toBeGreaterThanOrEqual(NOW + 3_600_000);
    expect(due).toBeLessThanOrEqual(NOW + 7 * 3_600_000);
  });
});

/** A `user.coaching.enabled` event for a seeded user: a cheap, idempotent handler. */
async function seedEnablingEvent(uid: string, now: number, fields: Record<string, unknown> = {}) {
  await putDocuments(db, "users", [
    [
      uid,
      {
        email: `${uid}@example.com`,
        timezone: "UTC",
        coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
        nextCoachingMessageDue: null,
      },
    ],
  ]);
  const event = newEvent({
    id: `user.coaching.enabled_${uid}`,
    eventType: "user.coaching.enabled",
    aggregateId: uid,
    aggregateType: "user",
    payload: { uid },
    createdBy: "journaling-app",
    now,
  });
  await putDocuments(db, "events", [[event.id, { ...event, ...fields }]]);
  return event.id;
}

/**
 * The store with its claim write failing once: either it applies and then reports a failure (a
 * timeout), or it fails before applying.
 */
function failingClaimOnce(store: EventStore, mode: "applied" | "not_applied") {
  const fired: string[] = [];
  const wrapped: EventStore = {
    ...store,
    claimEvent: async (claim) => {
      if (fired.length > 0) return store.claimEvent(claim);
      fired.push(`claimEvent:${mode}`);
      if (mode === "applied") await store.claimEvent(claim);
      throw new Error(`simulated ${mode === "applied" ? "timeout after the claim applied" : "failure"}`);
    },
  };
  return { store: wrapped, fired };
}

describe("outbox: no claim sticks (issue 11, A2)", () => {
  it("a half-written claim (lease created, event never updated) is taken over once the lease has expired", async () => {
    const eventId = await seedEnablingEvent("half", NOW);
    // What an older version left behind when it died between its two claim writes.
    await putDocuments(db, "eventLeases", [[`${eventId}_1`, { eventId, leaseNumber: 1, claimedAt: NOW }]]);
    expect(await processEvent({ deps: events, eventId, now: NOW + 1_000 })).toMatchObject({
      result: "skipped",
      reason: "busy",
    });
    expect(await processEvent({ deps: events, eventId, now: NOW + events.leaseMs + 1 })).toMatchObject({
      result: "processed",
    });
    expect(await eventOf(eventId)).toMatchObject({ status: "processed", lease_number: 2, attempts: 1 });
  });

  it("a claim that applied but reported failure is recognised as ours by its token: one run, one email, one attempt", async () => {
    const { eventId } = await storedMessage("timeout", NOW);
    const { store, fired } = failingClaimOnce(events.store, "applied");
    expect(await processEvent({ deps: { ...events, store }, eventId, now: NOW })).toMatchObject({
      result: "processed",
    });
    expect(fired).toEqual(["claimEvent:applied"]);
    expect(catcher.emails).toHaveLength(1);
    expect(await eventOf(eventId)).toMatchObject({ status: "processed", attempts: 1, lease_number: 1 });
  });

  it("a claim that failed before applying leaves the event ready; the next drain runs it", async () => {
    const { eventId } = await storedMessage("unclaimed", NOW);
    const { store, fired } = failingClaimOnce(events.store, "not_applied");
    const faulty = { ...events, store };
    await expect(processEvent({ deps: faulty, eventId, now: NOW })).rejects.toThrow("simulated failure");
    expect(fired).toEqual(["claimEvent:not_applied"]);
    expect((await events.store.getReadyEvents({ now: NOW, limit: 10 })).map((event) => event.id)).toEqual([
      eventId,
    ]);
    expect((await drainEvents(faulty, NOW + 1_000)).processed).toBe(1);
    expect(catcher.emails).toHaveLength(1);
    expect(await eventOf(eventId)).toMatchObject({ status: "processed", attempts: 1 });
  });

  it("25 events stuck behind live half-written claims do not stop a drain from reaching the events after them", async () => {
    const stuck = await Promise.all(
      Array.from({ length: 25 }, (_, index) => seedEnablingEvent(`stuck-${index}`, NOW - 60_000 + index)),
    );
    await putDocuments(
      db,
      "eventLeases",
      stuck.map((eventId) => [`${eventId}_1`, { eventId, leaseNumber: 1, claimedAt: NOW }]),
    );
    const later = await seedEnablingEvent("behind", NOW);
    const summary = await drainEvents(events, NOW + 1_000);
    expect(summary.processed).toBe(1);
    expect(await eventOf(later)).toMatchObject({ status: "processed" });
    // And once their leases have expired, the stuck ones are taken over too.
    const recovered = await drainEvents(events, NOW + events.leaseMs + 2_000);
    expect(recovered.processed).toBe(25);
    expect(JSON.stringify(queriesMissingIndexes(handle.emulator.recordedQueries(), readIndexes()))).toEqual(
      "[]",
    );
  });
});

describe("outbox: attempts count when claimed (issue 11, A6)", () => {
  it.each([
    ["throws (the process dies)", "throws"],
    ["never returns (killed by maxDuration)", "hangs"],
  ] as const)(
    "a handler that always %s mid-run reaches dead letters after maxRetries + 1 claims",
    async (_case, death) => {
      const { eventId } = await storedMessage(`dies-${death}`, NOW);
      let reached = 0;
      const dying = {
        ...events,
        onStep: (step: string) => {
          if (step !== "email_requested") return;
          reached += 1;
          if (death === "throws") throw new Error("the process died");
          // A run that never comes back: its lease is all that is left of it.
          return new Promise<void>(() => {});
        },
      };
      let now = NOW;
      const results: string[] = [];
      for (let run = 0; run < 10; run += 1) {
        const before = reached;
        let settled = false;
        const running = processEvent({ deps: dying, eventId, now })
          .catch(() => null)
          .finally(() => {
            settled = true;
          });
        const outcome = await Promise.race([
          running,
          // Returns once the handler has reached its fatal step (or when the run ended first).
          (async () => {
            while (reached === before && !settled) await new Promise((resolve) => setTimeout(resolve, 5));
            return null;
          })(),
        ]);
        results.push(outcome?.result ?? "died");
        if (outcome?.result === "dead_lettered") break;
        now += events.leaseMs + 1;
      }
      expect(results).toEqual(["died", "died", "died", "died", "died", "died", "dead_lettered"]);
      expect(reached).toBe(6);
      expect(await eventOf(eventId)).toMatchObject({ status: "dead_letter", attempts: 6 });
      const letter = (await db.collection("eventDeadLetters").doc(eventId).get()).data();
      expect(letter).toMatchObject({
        retry_count: 5,
        error_message: expect.stringContaining("did not finish"),
      });
      // The idempotency key kept the retries to one email.
      expect(catcher.emails).toHaveLength(1);
    },
  );
});

describe("outbox: engine-owned fields on app-written events are never trusted (issue 11, A11)", () => {
  it("an app-written event with a huge lease number, negative attempts, a far lease and no status is processed", async () => {
    const eventId = await seedEnablingEvent("bogus", NOW, {
      lease_number: 1e9,
      attempts: -5,
      lease_until: 1e15,
      status: undefined,
      processed: "no",
    });
    expect(await processEvent({ deps: events, eventId, now: NOW })).toMatchObject({ result: "processed" });
    expect(await eventOf(eventId)).toMatchObject({ status: "processed", attempts: 1, processed: true });
  });

  it("a drain finds an app-written event that lacks status and next_attempt_at", async () => {
    const eventId = "user.coaching.enabled_sparse";
    await putDocuments(db, "users", [
      [
        "sparse",
        {
          email: "sparse@example.com",
          timezone: "UTC",
          coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
        },
      ],
    ]);
    // Only what the journaling app cares about.
    await putDocuments(db, "events", [
      [eventId, { id: eventId, event_type: "user.coaching.enabled", payload: { uid: "sparse" } }],
    ]);
    await drainEvents(events, NOW);
    expect(await eventOf(eventId)).toMatchObject({ status: "processed", attempts: 1 });
    expect(JSON.stringify(queriesMissingIndexes(handle.emulator.recordedQueries(), readIndexes()))).toEqual(
      "[]",
    );
  });
});
