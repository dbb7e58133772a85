/**
 * `user.coaching.enabled`: the journaling app's hint that a user switched coaching on. It brings
 * an unscheduled or parked user forward, and never moves a real schedule earlier.
 */
import { describe, expect, it } from "vitest";
import { createInMemoryProcessorData, type InMemoryProcessorData } from "@/adapters/memory/processor-store";
import { createInMemoryDatabase, type InMemoryDatabase } from "@/adapters/memory/scheduler-store";
import { dueRank } from "@/core/due-rank";
import { EVENT_TYPES, newEvent } from "@/core/events";
import type { ProcessorStore } from "@/pipeline/processor-store-ports";
import { wireMemoryOutbox } from "../../support/memory-outbox";
import { userDocument } from "../../support/users";

const HOUR = 3_600_000;
const NOW = Date.parse("2026-11-24T09:00:00Z");

async function publishEnabled(
  document: Record<string, unknown>,
  seed: (data: InMemoryProcessorData) => void = () => {},
  wrapStore?: (store: ProcessorStore, database: InMemoryDatabase) => ProcessorStore,
) {
  const database = createInMemoryDatabase();
  // A copy: the stores update the stored document in place, and a test compares it with `document`.
  database.users.set("returning", structuredClone(document));
  const data = createInMemoryProcessorData();
  seed(data);
  const { registry } = wireMemoryOutbox({
    database,
    data,
    random: () => 0.5,
    wrapStore: wrapStore && ((store) => wrapStore(store, database)),
  });
  const handler = registry[EVENT_TYPES.userCoachingEnabled];
  if (!handler) throw new Error("no handler for user.coaching.enabled");
  const event = newEvent({
    id: "user.coaching.enabled_returning_1",
    eventType: EVENT_TYPES.userCoachingEnabled,
    aggregateId: "returning",
    aggregateType: "user",
    payload: { uid: "returning" },
    createdBy: "journaling-app",
    now: NOW,
  });
  const result = await handler.handle({ uid: "returning" }, { event, now: NOW });
  const user = database.users.get("returning");
  return { result, due: user?.nextCoachingMessageDue, user, writes: database.counters.documentsWritten };
}

/** 1 h + 0.5 × 6 h: a daily user's bootstrap with the random source at 0.5. */
const BOOTSTRAP = NOW + 4 * HOUR;

describe("user.coaching.enabled", () => {
  it.each([
    ["lacks the due field", userDocument()],
    ["holds null", userDocument({ nextCoachingMessageDue: null })],
    ["holds a Timestamp", { ...userDocument(), nextCoachingMessageDue: new Date(NOW - 24 * HOUR) }],
    ["holds a string", { ...userDocument(), nextCoachingMessageDue: "tomorrow" }],
  ])("schedules a user who %s at once", async (_case, document) => {
    const { result, due } = await publishEnabled(document);
    expect(result).toMatchObject({ ok: true });
    expect(due).toBe(BOOTSTRAP);
  });

  it("never moves a future due time earlier: a toggle off and on after today's message gives no second one", async () => {
    const tomorrow = NOW + 23 * HOUR;
    const { result, due } = await publishEnabled(userDocument({ nextCoachingMessageDue: tomorrow }));
    expect(result).toMatchObject({ ok: true });
    expect(due).toBe(tomorrow);
  });

  it("puts a user back on the slot whose approved message still waits, so it goes out before anything new", async () => {
    // Coaching was switched off while a slot held an approved message; the scheduler parked the user.
    const slotDue = NOW - 3 * HOUR;
    const slotId = `returning_${slotDue}`;
    const parkedUntil = NOW + 20 * HOUR;
    const { result, due } = await publishEnabled(
      { ...userDocument({ nextCoachingMessageDue: parkedUntil }), coachingParkedUntil: parkedUntil },
      (data) => {
        data.slots.set(slotId, {
          slotId,
          uid: "returning",
          dueAt: slotDue,
          forced: false,
          status: "running",
          leaseNumber: 1,
          leaseUntil: slotDue + 600_000,
          outcome: null,
          messageId: null,
          nextCoachingMessageDue: null,
          failureReason: null,
          createdAt: slotDue,
          updatedAt: slotDue,
        });
        data.messages.set(slotId, { id: slotId, uid: "returning", slotId, status: "approved" } as never);
      },
    );
    expect(result).toMatchObject({ ok: true, detail: "resumes the slot holding an approved message" });
    expect(due).toBe(slotDue);
  });

  it("brings a user parked while coaching was off forward to a bootstrap time", async () => {
    const parkedUntil = NOW + 20 * HOUR;
    const { due } = await publishEnabled({
      ...userDocument({ nextCoachingMessageDue: parkedUntil }),
      coachingParkedUntil: parkedUntil,
    });
    expect(due).toBe(BOOTSTRAP);
  });

  it("keeps a park that ends sooner than a bootstrap would", async () => {
    const parkedUntil = NOW + HOUR;
    const { due } = await publishEnabled({
      ...userDocument({ nextCoachingMessageDue: parkedUntil }),
      coachingParkedUntil: parkedUntil,
    });
    expect(due).toBe(parkedUntil);
  });

  it("treats a stale park mark (the user was rescheduled since) as a real schedule", async () => {
    const tomorrow = NOW + 23 * HOUR;
    const { due } = await publishEnabled({
      ...userDocument({ nextCoachingMessageDue: tomorrow }),
      coachingParkedUntil: NOW - 2 * HOUR,
    });
    expect(due).toBe(tomorrow);
  });

  it("leaves a user who is already due alone", async () => {
    const { result, due } = await publishEnabled(userDocument({ nextCoachingMessageDue: NOW - HOUR }));
    expect(result).toMatchObject({ ok: true, detail: "already due" });
    expect(due).toBe(NOW - HOUR);
  });

  describe("the enable flag's mirror (`coachingEnabled`, counted by the metrics)", () => {
    it("is set in the write that schedules or brings the user forward", async () => {
      const parkedUntil = NOW + 20 * HOUR;
      const bootstrapped = await publishEnabled(userDocument());
      const broughtForward = await publishEnabled({
        ...userDocument({ nextCoachingMessageDue: parkedUntil }),
        coachingParkedUntil: parkedUntil,
        coachingEnabled: false,
      });
      expect(bootstrapped.user).toMatchObject({ nextCoachingMessageDue: BOOTSTRAP, coachingEnabled: true });
      expect(broughtForward.user).toMatchObject({ nextCoachingMessageDue: BOOTSTRAP, coachingEnabled: true });
    });

    it.each([
      ["a park that ends sooner than a bootstrap", NOW + HOUR, NOW + HOUR],
      ["a real future schedule (a stale park mark)", NOW + 23 * HOUR, NOW - 2 * HOUR],
    ])("is set at once on %s, the due time and its rank kept", async (_case, dueAt, parkedUntil) => {
      // A rank one missed window down: rewritten as it was.
      const rank = dueRank({ uid: "returning", dueAt, missedWindows: 1 });
      const { user } = await publishEnabled({
        ...userDocument({ nextCoachingMessageDue: dueAt }),
        coachingParkedUntil: parkedUntil,
        coachingDueRank: rank,
        coachingEnabled: false,
      });
      expect(user).toMatchObject({
        nextCoachingMessageDue: dueAt,
        coachingDueRank: rank,
        coachingEnabled: true,
      });
    });

    it.each([
      [
        "an admin's resume (suspension lifted, due at once)",
        { suspendUntil: NOW + 30 * 24 * HOUR, nextCoachingMessageDue: NOW + 30 * 24 * HOUR },
        { suspendUntil: null, nextCoachingMessageDue: NOW },
      ],
      [
        "the processor's reschedule after a message",
        { nextCoachingMessageDue: NOW + 60_000 },
        { nextCoachingMessageDue: NOW + 24 * HOUR, coachingEnabled: true },
      ],
    ])(
      "sets only the mirror: a due time written meanwhile by %s survives",
      async (_case, before, concurrent) => {
        // Another writer acts between the handler's read of the user and its write: the fault sits
        // at the port, in the store's read of the user's open slots.
        const concurrentWriter = (store: ProcessorStore, database: InMemoryDatabase): ProcessorStore => ({
          ...store,
          async listOpenSlots(input) {
            Object.assign(database.users.get("returning") ?? {}, concurrent);
            return store.listOpenSlots(input);
          },
        });
        const { result, user } = await publishEnabled(
          { ...userDocument(), ...before, coachingEnabled: false },
          () => {},
          concurrentWriter,
        );
        expect(result).toMatchObject({ ok: true });
        expect(user).toMatchObject({ ...concurrent, coachingEnabled: true });
      },
    );

    it("costs no write when the mirror already says enabled", async () => {
      const tomorrow = NOW + 23 * HOUR;
      const document = { ...userDocument({ nextCoachingMessageDue: tomorrow }), coachingEnabled: true };
      const { user, writes } = await publishEnabled(document);
      expect(user).toEqual(document);
      expect(writes).toBe(0);
    });
  });
});
