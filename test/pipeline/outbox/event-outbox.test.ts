import type { Firestore } from "firebase-admin/firestore";
import { beforeEach, describe, expect, it } from "vitest";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import { loadConfig } from "@/config";
import { type EventRecord, messageCreatedEventId, newEvent } from "@/core/events";
import type { EventStore } from "@/pipeline/event-ports";
import { type EventProcessorDeps, processEvent } from "@/pipeline/outbox/process-event";
import { processEventBatches } from "@/pipeline/outbox/process-event-batches";
import {
  countRetriableDeadLetters,
  requeueRetriableDeadLetters,
} from "@/pipeline/outbox/requeue-dead-letters";
import type { StoredMessage } from "@/pipeline/processor-store-ports";
import { processUser } from "../../../scripts/support/process-user";
import { putDocuments } from "../../support/firestore";
import { queriesMissingIndexes, readIndexes } from "../../support/index-coverage";
import { dyingAtMessageWrite, untilDied } from "../../support/process-death";
import { drainEvents, HOUR, realEventDeps, realProcessorDeps, seedDueUser } from "../../support/processor";
import { localServicesForFile } from "../../support/stack";

const services = localServicesForFile();
let db: Firestore;
let events: EventProcessorDeps;

beforeEach(() => {
  ({ db } = services.handle.freshProject("outbox"));
  events = realEventDeps({ db, catcher: services.catcher });
  services.catcher.emails.length = 0;
  services.catcher.attempts.length = 0;
});

/** A stored, journaled message with its delivery event, made by the real processor. */
async function storedMessage(uid: string, now: number): Promise<{ eventId: string; messageId: string }> {
  await seedDueUser(db, { uid, now });
  const result = await processUser({ deps: realProcessorDeps({ db, sandbox: services.sandbox }), uid, now });
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

/** The outbox with `counted` called each time a run of the handler of `eventType` ends. */
function withCountedHandler(
  deps: EventProcessorDeps,
  eventType: string,
  counted: (event: EventRecord) => void,
): EventProcessorDeps {
  const handler = deps.registry[eventType];
  if (!handler) throw new Error(`no handler for ${eventType}`);
  return {
    ...deps,
    registry: {
      ...deps.registry,
      [eventType]: {
        ...handler,
        handle: async (payload, context) => {
          try {
            return await handler.handle(payload, context);
          } finally {
            counted(context.event);
          }
        },
      },
    },
  };
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
    services.catcher.queueFaults([{ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }]);
    const runs = await runUntilSettled(eventId, NOW);
    expect(runs.map((run) => run.result.result)).toEqual([
      "retry_scheduled",
      "retry_scheduled",
      "retry_scheduled",
      "retry_scheduled",
      "processed",
    ]);
    expect(services.catcher.attempts.map((attempt) => attempt.status)).toEqual([500, 500, 500, 500, 200]);
    expect(services.catcher.emails).toHaveLength(1);
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
      providerId: services.catcher.emails[0]?.id,
    });
  });

  it("Resend always failing → dead letter after 5 retries with the last error; replay after recovery → exactly one email", async () => {
    const { eventId, messageId } = await storedMessage("down", NOW);
    services.catcher.queueFaults(
      Array.from({ length: 6 }, (_, index) => ({ status: 503, message: `outage ${index + 1}` })),
    );
    const runs = await runUntilSettled(eventId, NOW);
    expect(runs).toHaveLength(6);
    expect(runs.at(-1)?.result.result).toBe("dead_lettered");
    expect(services.catcher.emails).toHaveLength(0);
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
    expect(services.catcher.emails).toHaveLength(1);
    // A replay long after delivery sends nothing: the message's own record is the final guard.
    await events.store.requeue({ eventId, now: later + 3 * 24 * 3_600_000 });
    await processEvent({ deps: events, eventId, now: later + 3 * 24 * 3_600_000 });
    expect(services.catcher.emails).toHaveLength(1);
  });

  it("a crash after the email request, before the event is marked processed → the retry sends no second email", async () => {
    const { eventId } = await storedMessage("crash", NOW);
    // The process dies in the write that follows the send: Resend has the email, nothing is recorded.
    const dying = dyingAtMessageWrite(createFirestoreProcessorStore(db));
    const crashing = realEventDeps({ db, catcher: services.catcher, storage: { store: dying.store } });
    await untilDied(processEvent({ deps: crashing, eventId, now: NOW }), dying.died);
    expect(dying.fired).toEqual(["updateMessage"]);
    expect(services.catcher.emails).toHaveLength(1);
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
    expect(services.catcher.attempts.map((attempt) => attempt.idempotencyKey)).toEqual([eventId, eventId]);
    expect(services.catcher.emails).toHaveLength(1);
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
    const counting = withCountedHandler(events, "coaching.message.created", (event) =>
      handled.push(event.id),
    );
    const summaries = await Promise.all(Array.from({ length: 5 }, () => drainEvents(counting, NOW + 1_000)));
    expect(summaries.reduce((total, summary) => total + summary.processed, 0)).toBe(100);
    expect(handled).toHaveLength(100);
    expect(new Set(handled).size).toBe(100);
    expect(services.catcher.attempts).toHaveLength(100);
    expect(services.catcher.emails).toHaveLength(100);
    expect(
      (await db.collection("events").where("status", "==", "processed").count().get()).data().count,
    ).toBe(100);
    expect(
      JSON.stringify(queriesMissingIndexes(services.handle.emulator.recordedQueries(), readIndexes())),
    ).toEqual("[]");
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
    expect(services.catcher.emails).toHaveLength(1);
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
    expect(services.catcher.emails).toHaveLength(1);
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
    expect(
      JSON.stringify(queriesMissingIndexes(services.handle.emulator.recordedQueries(), readIndexes())),
    ).toEqual("[]");
  });
});

/**
 * The outbox with every run dying mid-run, at a port: "throws" — the write of the event's outcome
 * throws, out of the run (a throw inside the handler would be a retriable failure, not a death);
 * "hangs" — the write recording the delivery, right after the send, never returns (killed by
 * maxDuration). `reached` counts the deaths.
 */
function dyingEveryRun(death: "throws" | "hangs") {
  if (death === "hangs") {
    const dying = dyingAtMessageWrite(createFirestoreProcessorStore(db), {
      deaths: Number.POSITIVE_INFINITY,
    });
    return {
      deps: realEventDeps({ db, catcher: services.catcher, storage: { store: dying.store } }),
      reached: () => dying.fired.length,
    };
  }
  let deaths = 0;
  const store: EventStore = {
    ...events.store,
    updateEvent: async () => {
      deaths += 1;
      throw new Error("the process died");
    },
  };
  return { deps: { ...events, store }, reached: () => deaths };
}

describe("outbox: attempts count when claimed (issue 11, A6)", () => {
  it.each([
    ["a throw out of the run", "throws"],
    ["a call that never returns, killed by maxDuration", "hangs"],
  ] as const)(
    "a run that always dies mid-run (%s) reaches dead letters after maxRetries + 1 claims",
    async (_case, death) => {
      const { eventId } = await storedMessage(`dies-${death}`, NOW);
      const { deps: dying, reached } = dyingEveryRun(death);
      let now = NOW;
      const results: string[] = [];
      for (let run = 0; run < 10; run += 1) {
        const before = reached();
        let settled = false;
        const running = processEvent({ deps: dying, eventId, now })
          .catch(() => null)
          .finally(() => {
            settled = true;
          });
        const outcome = await Promise.race([
          running,
          // Returns once the run has reached its fatal call (or when the run ended first).
          (async () => {
            while (reached() === before && !settled) await new Promise((resolve) => setTimeout(resolve, 5));
            return null;
          })(),
        ]);
        results.push(outcome?.result ?? "died");
        if (outcome?.result === "dead_lettered") break;
        now += events.leaseMs + 1;
      }
      expect(results).toEqual(["died", "died", "died", "died", "died", "died", "dead_lettered"]);
      expect(reached()).toBe(6);
      expect(await eventOf(eventId)).toMatchObject({ status: "dead_letter", attempts: 6 });
      const letter = (await db.collection("eventDeadLetters").doc(eventId).get()).data();
      expect(letter).toMatchObject({
        retry_count: 5,
        error_message: expect.stringContaining("did not finish"),
      });
      expect(services.catcher.emails).toHaveLength(1);
      if (death === "hangs") {
        // Each run sent again, never having recorded the send: the idempotency key kept them to one email.
        expect(services.catcher.attempts.map((attempt) => attempt.idempotencyKey)).toEqual(
          Array.from({ length: 6 }, () => eventId),
        );
      } else {
        // The first run recorded the delivery before it died: the later ones found it sent.
        expect(services.catcher.attempts).toHaveLength(1);
      }
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

  it("an app-written event whose id is too long for its lease ids is dead-lettered, and the drain goes on", async () => {
    // 1,490 bytes: a valid document id, but lease `${id}_${n}` would pass Firestore's 1,500.
    const longId = `user.coaching.enabled_${"x".repeat(1_490 - 22)}`;
    const shortId = "user.coaching.enabled_after-long";
    // The emulator accepts longer ids than Firestore: the store refuses them as Firestore does.
    const refusedLeases: string[] = [];
    const real = events.store;
    const store: EventStore = {
      ...real,
      claimEvent: async (claim) => {
        const leaseId = `${claim.eventId}_${claim.leaseNumber}`;
        if (new TextEncoder().encode(leaseId).length > 1_500) {
          refusedLeases.push(leaseId);
          throw new Error("3 INVALID_ARGUMENT: document id longer than 1,500 bytes");
        }
        return real.claimEvent(claim);
      },
    };
    events = { ...events, store };
    const fields = { event_type: "user.coaching.enabled", payload: { uid: "after-long" }, status: "pending" };
    await putDocuments(db, "users", [
      [
        "after-long",
        {
          email: "a@example.com",
          timezone: "UTC",
          coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
        },
      ],
    ]);
    await putDocuments(db, "events", [
      [longId, { ...fields, created_at: NOW - 2, next_attempt_at: NOW - 2 }],
      [shortId, { ...fields, created_at: NOW - 1, next_attempt_at: NOW - 1 }],
    ]);
    expect(await processEvent({ deps: events, eventId: longId, now: NOW })).toMatchObject({
      result: "dead_lettered",
    });
    expect(refusedLeases).toEqual([]);
    expect(await eventOf(longId)).toMatchObject({ status: "dead_letter" });
    expect((await db.collection("eventDeadLetters").doc(longId).get()).get("error_message")).toContain(
      "event id",
    );
    await drainEvents(events, NOW);
    expect(await eventOf(shortId)).toMatchObject({ status: "processed" });
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
    expect(
      JSON.stringify(queriesMissingIndexes(services.handle.emulator.recordedQueries(), readIndexes())),
    ).toEqual("[]");
  });
});

describe("outbox: an outage of hours does not lose emails (operator review, HIGH 1)", () => {
  it("Resend down for three hours: retried by age past six attempts with production defaults, one email after recovery", async () => {
    const { eventId, messageId } = await storedMessage("long-outage", NOW);
    const defaults = loadConfig({ NODE_ENV: "production", FIRESTORE_EMULATOR_HOST: "127.0.0.1:1" }).events;
    const production = {
      ...events,
      policy: {
        maxRetries: defaults.maxRetries,
        baseDelayMs: defaults.baseDelayMs,
        maxDelayMs: defaults.maxDelayMs,
        maxAgeMs: defaults.maxAgeMs,
      },
    };
    const outageEnds = NOW + 3 * HOUR;
    let now = NOW;
    const results: string[] = [];
    for (let run = 0; run < 40; run += 1) {
      if (now < outageEnds) services.catcher.queueFaults([{ status: 503, message: "outage" }]);
      const result = await processEvent({ deps: production, eventId, now });
      results.push(result.result);
      if (result.result !== "retry_scheduled") break;
      expect(result.nextAttemptAt - now).toBeLessThanOrEqual(defaults.maxDelayMs);
      now = result.nextAttemptAt;
    }
    expect(results.filter((result) => result === "retry_scheduled").length).toBeGreaterThan(6);
    expect(results.at(-1)).toBe("processed");
    expect(services.catcher.emails).toHaveLength(1);
    expect((await messageOf(messageId)).delivery.email.status).toBe("sent");
  });

  it("a hanging Resend call times out as a retriable failure within the mailer's timeout; the retry sends no second email", async () => {
    const { eventId } = await storedMessage("hanging", NOW);
    const impatient = realEventDeps({ db, catcher: services.catcher, mailer: { timeoutMs: 300 } });
    services.catcher.queueFaults([{ delayMs: 2_000 }]);
    const startedAt = performance.now();
    const first = await processEvent({ deps: impatient, eventId, now: NOW });
    expect(performance.now() - startedAt).toBeLessThan(1_500);
    expect(first).toMatchObject({ result: "retry_scheduled", error: expect.stringContaining("timed out") });
    // The timed-out request reached Resend; the retry carries the same idempotency key.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const later = first.result === "retry_scheduled" ? first.nextAttemptAt : NOW;
    expect(await processEvent({ deps: impatient, eventId, now: later })).toMatchObject({
      result: "processed",
    });
    expect(services.catcher.emails).toHaveLength(1);
  });

  it("an email whose send outcome is unknown is not sent again after Resend's 24 h idempotency window; it waits for an operator (review 2, item 3)", async () => {
    const { eventId, messageId } = await storedMessage("unknown-outcome", NOW);
    const impatient = realEventDeps({ db, catcher: services.catcher, mailer: { timeoutMs: 300 } });
    services.catcher.queueFaults([{ delayMs: 1_000 }]);
    expect(await processEvent({ deps: impatient, eventId, now: NOW })).toMatchObject({
      result: "retry_scheduled",
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(services.catcher.attempts).toHaveLength(1);
    expect((await messageOf(messageId)).delivery.email).toMatchObject({
      status: "failed",
      outcomeUnknownSince: NOW,
    });
    // A requeue (or a long retry window) brings it back a day later: the idempotency key has
    // expired at Resend, so a send could deliver it twice.
    const dayLater = NOW + 24 * HOUR;
    await events.store.requeue({ eventId, now: dayLater });
    const rerun = await processEvent({ deps: impatient, eventId, now: dayLater });
    expect(rerun).toMatchObject({ result: "dead_lettered", error: expect.stringContaining("operator") });
    expect(services.catcher.attempts).toHaveLength(1);
    expect((await db.collection("eventDeadLetters").doc(eventId).get()).get("retriable")).toBe(false);
    expect((await messageOf(messageId)).delivery.email.error).toContain("operator");
    // Dead-lettered after a requeue: its retention counts from the requeue, not its creation.
    const expireAt = (await db.collection("events").doc(eventId).get()).get("expireAt");
    expect(expireAt.toMillis()).toBe(dayLater + 180 * 24 * HOUR);
  });

  it("a drain starts no event once its time budget is spent, and says it has more", async () => {
    const eventIds = await Promise.all(
      Array.from({ length: 5 }, (_, index) => seedEnablingEvent(`budget-${index}`, NOW - 10 + index)),
    );
    let handled = 0;
    const counting = withCountedHandler(events, "user.coaching.enabled", () => {
      handled += 1;
    });
    const summary = await processEventBatches({
      deps: counting,
      now: () => NOW,
      batchSize: 20,
      concurrency: 1,
      timeBudgetMs: 1_000,
      // Each handled event takes half the budget.
      elapsedMs: () => handled * 500,
    });
    expect(summary).toMatchObject({ processed: 2, hasMore: true });
    const statuses = await Promise.all(eventIds.map(async (eventId) => (await eventOf(eventId)).status));
    expect(statuses.filter((status) => status === "pending")).toHaveLength(3);
  });

  it("requeues the retriable dead letters in bulk, up to the confirmed count, leaving permanent failures", async () => {
    const { eventId } = await storedMessage("bulk-requeue", NOW);
    const expired = { ...events, policy: { ...events.policy, maxAgeMs: 1 } };
    services.catcher.queueFaults([{ status: 503 }]);
    expect(await processEvent({ deps: expired, eventId, now: NOW + 10 })).toMatchObject({
      result: "dead_lettered",
    });
    const odd = newEvent({
      id: "odd-permanent",
      eventType: "coaching.unheard.of",
      aggregateId: "x",
      aggregateType: "x",
      payload: {},
      createdBy: "test",
      now: NOW,
    });
    await putDocuments(db, "events", [[odd.id, { ...odd }]]);
    await processEvent({ deps: events, eventId: odd.id, now: NOW });
    expect(await countRetriableDeadLetters({ deps: events })).toBe(1);

    const later = NOW + 2 * 24 * HOUR;
    expect(await requeueRetriableDeadLetters({ deps: events, now: later, limit: 10 })).toEqual({
      requeued: [eventId],
    });
    expect(await eventOf(eventId)).toMatchObject({ status: "pending", attempts: 0, requeued_at: later });
    expect(await eventOf(odd.id)).toMatchObject({ status: "dead_letter" });
    expect(await countRetriableDeadLetters({ deps: events })).toBe(0);
    // The requeue gave it a fresh retry window: two days after its creation, with a one-hour
    // window, a failure is retried, not dead-lettered at once.
    const hourWindow = { ...events, policy: { ...events.policy, maxAgeMs: HOUR } };
    services.catcher.queueFaults([{ status: 503 }]);
    expect(await processEvent({ deps: hourWindow, eventId, now: later + 1 })).toMatchObject({
      result: "retry_scheduled",
    });
  });
});

describe("outbox: run totals are off the result path (operator review, HIGH 2b)", () => {
  it("a failing totals write neither fails the run nor keeps a delivered event pending", async () => {
    const { eventId } = await storedMessage("totals-down", NOW);
    const fired: string[] = [];
    const warnings: string[] = [];
    const store: EventStore = {
      ...events.store,
      recordRun: async () => {
        fired.push("recordRun");
        throw new Error("RESOURCE_EXHAUSTED: too much contention on eventStats/totals");
      },
    };
    const deps = { ...events, store, logWarning: (message: string) => void warnings.push(message) };
    expect(await processEvent({ deps, eventId, now: NOW })).toMatchObject({ result: "processed" });
    expect(fired).toEqual(["recordRun"]);
    expect(warnings).toHaveLength(1);
    expect(await eventOf(eventId)).toMatchObject({ status: "processed", attempts: 1 });
    expect(services.catcher.emails).toHaveLength(1);
  });

  it("records a run only after the event is marked processed", async () => {
    const { eventId } = await storedMessage("totals-order", NOW);
    const statusAtRecord: string[] = [];
    const store: EventStore = {
      ...events.store,
      recordRun: async (run) => {
        statusAtRecord.push((await eventOf(eventId)).status);
        return events.store.recordRun(run);
      },
    };
    await processEvent({ deps: { ...events, store }, eventId, now: NOW });
    expect(statusAtRecord).toEqual(["processed"]);
  });

  it("spreads the totals over shard documents and sums them with the old single totals document", async () => {
    await db
      .doc("eventStats/totals")
      .set({ totalProcessed: 3, successCount: 2, errorCount: 1, lastProcessedAt: 5 });
    for (let run = 0; run < 30; run += 1)
      await events.store.recordRun({ success: run % 3 !== 0, now: 100 + run });
    const shards = (await db.collection("eventStats").get()).docs.filter((document) =>
      document.id.startsWith("totals_"),
    );
    expect(shards.length).toBeGreaterThan(1);
    expect(await events.store.getHealth({ now: 1_000 })).toMatchObject({
      totalProcessed: 33,
      successCount: 22,
      errorCount: 11,
      lastProcessedAt: 129,
    });
  });
});

describe("outbox: a claim reported as a conflict that was our own write (operator review, MEDIUM 4d)", () => {
  it("a claim that applied but came back 'exists' (the SDK retried the commit) is ours by its token: one run, one attempt", async () => {
    const { eventId } = await storedMessage("self-conflict", NOW);
    const fired: string[] = [];
    const store: EventStore = {
      ...events.store,
      claimEvent: async (claim) => {
        if (fired.length > 0) return events.store.claimEvent(claim);
        fired.push("claimEvent:applied_then_exists");
        await events.store.claimEvent(claim);
        return false;
      },
    };
    expect(await processEvent({ deps: { ...events, store }, eventId, now: NOW })).toMatchObject({
      result: "processed",
    });
    expect(fired).toEqual(["claimEvent:applied_then_exists"]);
    expect(services.catcher.emails).toHaveLength(1);
    expect(await eventOf(eventId)).toMatchObject({ status: "processed", attempts: 1, lease_number: 1 });
  });
});

describe("outbox: email without RESEND_API_KEY is off, not broken (operator review, LOW 11)", () => {
  it("records the email as skipped with the reason, delivers the rest and settles the event", async () => {
    const { eventId, messageId } = await storedMessage("no-key", NOW);
    const unconfigured = realEventDeps({ db, catcher: services.catcher, mailer: null });
    expect(await processEvent({ deps: unconfigured, eventId, now: NOW })).toMatchObject({
      result: "processed",
    });
    expect(services.catcher.attempts).toHaveLength(0);
    expect((await messageOf(messageId)).delivery.email).toMatchObject({
      status: "skipped",
      error: expect.stringContaining("RESEND_API_KEY"),
    });
  });
});
