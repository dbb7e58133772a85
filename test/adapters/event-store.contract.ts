/**
 * The behaviour every EventStore must show, run against Firestore (on the emulator) and the
 * in-memory twin alike, so that what the chaos simulation proves on the twin holds on Firestore:
 * the ready query and its keyset paging, claims as one atomic write with a token, dead letters
 * and requeues, the sweep for events the ready query cannot see, and writes that were applied
 * but reported failure (a timeout after the commit).
 */
import { beforeEach, describe, expect, it } from "vitest";
import { type EventRecord, newEvent } from "@/core/events";
import type { EventClaim, EventStore } from "@/pipeline/event-ports";
import { newProcess, wrapPort } from "../../scripts/simulation/chaos/faults";

export interface EventStoreHarness {
  /** A fresh, empty store for one test. */
  create(): Promise<EventStore>;
  /** Writes an event document as given (the app may write one without some fields). */
  putEvent(id: string, document: Record<string, unknown>): Promise<void>;
  readEvent(eventId: string): Promise<Record<string, unknown> | undefined>;
  /** Deletes an event document (as its TTL does), leaving its dead letter. */
  deleteEvent(eventId: string): Promise<void>;
}

function event(id: string, fields: Partial<EventRecord> = {}): EventRecord {
  return {
    ...newEvent({
      id,
      eventType: "coaching.message.created",
      aggregateId: id,
      aggregateType: "coachingMessage",
      payload: { messageId: id },
      createdBy: "test",
      now: 10,
    }),
    ...fields,
  };
}

function claim(fields: Partial<EventClaim> = {}): EventClaim {
  return {
    eventId: "e1",
    leaseNumber: 1,
    now: 20,
    leaseUntil: 200,
    attempts: 1,
    nextAttemptAt: 200,
    claimToken: "token-1",
    ...fields,
  };
}

/** The store with one method applying its call and then failing, as a write that timed out after committing. */
function appliedThenFailing(store: EventStore, method: keyof EventStore): EventStore {
  return wrapPort(store, {
    name: "eventStore",
    process: newProcess("contract"),
    decide: (call) => (call.method === method ? "applied_then_fail" : null),
  });
}

export function describeEventStoreContract(name: string, harness: EventStoreHarness): void {
  describe(`${name} event store contract`, () => {
    let store: EventStore;
    const put = (record: EventRecord) => harness.putEvent(record.id, { ...record });
    beforeEach(async () => {
      store = await harness.create();
    });

    it("returns pending events whose next attempt is due, oldest ready first, paging on (time, id)", async () => {
      await put(event("late", { next_attempt_at: 300 }));
      await put(event("early", { next_attempt_at: 100 }));
      await put(event("middle-b", { next_attempt_at: 200 }));
      await put(event("middle-a", { next_attempt_at: 200 }));
      await put(event("future", { next_attempt_at: 5_000 }));
      await put(event("done", { next_attempt_at: 50, status: "processed", processed: true }));
      await put(event("dead", { next_attempt_at: 60, status: "dead_letter" }));

      const first = await store.getReadyEvents({ now: 1_000, limit: 2 });
      expect(first.map((ready) => ready.id)).toEqual(["early", "middle-a"]);
      const next = await store.getReadyEvents({
        now: 1_000,
        limit: 10,
        after: { nextAttemptAt: 200, eventId: "middle-a" },
      });
      expect(next.map((ready) => ready.id)).toEqual(["middle-b", "late"]);
    });

    it("claims an event in one write: the lease with its token and the event moved onto it; a lease is claimed once", async () => {
      await put(event("e1"));
      expect(await store.claimEvent(claim())).toBe(true);
      expect(await store.getEvent("e1")).toMatchObject({
        status: "pending",
        lease_number: 1,
        lease_until: 200,
        next_attempt_at: 200,
        attempts: 1,
      });
      expect(await store.getLease({ eventId: "e1", leaseNumber: 1 })).toEqual({
        claimedAt: 20,
        leaseUntil: 200,
        claimToken: "token-1",
      });
      expect(await store.getReadyEvents({ now: 100, limit: 10 })).toEqual([]);

      expect(await store.claimEvent(claim({ now: 21, claimToken: "token-2", attempts: 9 }))).toBe(false);
      expect(await store.getEvent("e1")).toMatchObject({ attempts: 1 });
      expect(await store.getLease({ eventId: "e1", leaseNumber: 1 })).toMatchObject({
        claimToken: "token-1",
      });
      expect(await store.getLease({ eventId: "e1", leaseNumber: 2 })).toBeNull();
    });

    it("fails to claim a missing event and does not create it", async () => {
      // (On real Firestore the batch writes nothing; the emulator keeps the lease create() that
      // came before the failing update, so the lease is not asserted here.)
      await expect(store.claimEvent(claim({ eventId: "missing" }))).rejects.toThrow();
      expect(await harness.readEvent("missing")).toBeUndefined();
    });

    it("keeps a claim that was applied but reported failed, and its token tells whose it is", async () => {
      await put(event("e1"));
      await expect(appliedThenFailing(store, "claimEvent").claimEvent(claim())).rejects.toThrow(/applied/);
      expect(await store.getLease({ eventId: "e1", leaseNumber: 1 })).toMatchObject({
        claimToken: "token-1",
      });
      expect(await store.getEvent("e1")).toMatchObject({ lease_number: 1, attempts: 1 });
      expect(await store.claimEvent(claim({ claimToken: "token-2" }))).toBe(false);
    });

    it("patches an event's fields, keeps a patch that was applied but reported failed, and fails on a missing one", async () => {
      await put(event("e1"));
      await store.updateEvent("e1", { last_error: "first" });
      await expect(
        appliedThenFailing(store, "updateEvent").updateEvent("e1", { attempts: 2, last_error: "x" }),
      ).rejects.toThrow(/applied/);
      expect(await store.getEvent("e1")).toMatchObject({ attempts: 2, last_error: "x", status: "pending" });
      await expect(store.updateEvent("missing", { attempts: 1 })).rejects.toThrow();
      expect(await harness.readEvent("missing")).toBeUndefined();
    });

    it("dead-letters an event and puts it back in the queue on requeue", async () => {
      await put(event("e1", { attempts: 3 }));
      await store.deadLetter({
        eventId: "e1",
        patch: { status: "dead_letter", attempts: 4, last_error: "boom", lease_until: 30 },
        letter: {
          event_id: "e1",
          event_type: "coaching.message.created",
          payload: { messageId: "e1" },
          error_message: "boom",
          retry_count: 3,
          original_created_at: 10,
          created_at: 30,
        },
      });
      expect(await store.getEvent("e1")).toMatchObject({ status: "dead_letter", attempts: 4 });
      expect(await store.getHealth({ now: 40 })).toMatchObject({ deadLetterCount: 1, pendingCount: 0 });

      expect(await store.requeue({ eventId: "e1", now: 50 })).toBe(true);
      expect(await store.getEvent("e1")).toMatchObject({
        status: "pending",
        attempts: 0,
        next_attempt_at: 50,
        lease_until: 0,
      });
      // Ready since its requeue: a replayed event is not as old as its creation.
      expect(await store.getHealth({ now: 60 })).toMatchObject({
        deadLetterCount: 0,
        pendingCount: 1,
        oldestReadyAt: 50,
      });
      expect(await store.requeue({ eventId: "missing", now: 50 })).toBe(false);
    });

    it("clears a retriable dead letter whose event is gone, so it no longer blocks the bulk requeue (review 2, item 2)", async () => {
      for (const id of ["orphan", "alive"]) {
        await harness.putEvent(id, { ...event(id) });
        await store.deadLetter({
          eventId: id,
          patch: { status: "dead_letter", attempts: 4, last_error: "boom", lease_until: 30 },
          letter: {
            event_id: id,
            event_type: "coaching.message.created",
            payload: { messageId: id },
            error_message: "boom",
            retry_count: 3,
            original_created_at: 10,
            created_at: 30,
            retriable: true,
          },
        });
      }
      await harness.deleteEvent("orphan");
      expect(await store.countRetriableDeadLetters()).toBe(2);
      expect(await store.requeue({ eventId: "orphan", now: 50 })).toBe(false);
      expect(await store.countRetriableDeadLetters()).toBe(1);
      expect(await store.listRetriableDeadLetters({ limit: 1 })).toEqual(["alive"]);
      expect(await store.getEvent("orphan")).toBeNull();
    });

    it("reads an app-written event with defaults for the fields the engine owns", async () => {
      await harness.putEvent("app1", {
        event_type: "user.coaching.enabled",
        payload: { uid: "u1" },
        attempts: -5,
        lease_number: "seven",
      });
      expect(await store.getEvent("app1")).toMatchObject({
        status: "pending",
        attempts: 0,
        lease_number: 0,
        next_attempt_at: 0,
      });
    });

    it("queues events the ready query cannot see, sweeping the collection by id with a cursor", async () => {
      await put(event("a-ok", { next_attempt_at: 5 }));
      await harness.putEvent("b-stray", { event_type: "user.coaching.enabled", payload: { uid: "u1" } });
      await harness.putEvent("c-stray", {
        event_type: "user.coaching.enabled",
        payload: { uid: "u2" },
        status: "pending",
        next_attempt_at: "soon",
        created_at: 7,
      });
      expect(await store.getReadyEvents({ now: 100, limit: 10 })).toHaveLength(1);

      expect(await store.queueStrayEvents({ now: 100, limit: 2 })).toEqual({ examined: 2, queued: 1 });
      expect(await store.queueStrayEvents({ now: 101, limit: 2 })).toEqual({ examined: 1, queued: 1 });
      const ready = await store.getReadyEvents({ now: 200, limit: 10 });
      expect(ready.map((queued) => queued.id)).toEqual(["a-ok", "b-stray", "c-stray"]);
      expect(await harness.readEvent("b-stray")).toMatchObject({ status: "pending", next_attempt_at: 100 });
      expect(await harness.readEvent("c-stray")).toMatchObject({ next_attempt_at: 101, created_at: 7 });
      // The pass ended on a short page: the next sweep starts over and finds nothing to do.
      expect(await store.queueStrayEvents({ now: 102, limit: 10 })).toEqual({ examined: 3, queued: 0 });
    });

    it("counts runs and their outcomes", async () => {
      await store.recordRun({ success: true, now: 100 });
      await store.recordRun({ success: false, now: 200 });
      expect(await store.getHealth({ now: 300 })).toMatchObject({
        totalProcessed: 2,
        successCount: 1,
        errorCount: 1,
        lastProcessedAt: 200,
      });
    });

    it("reports since when the oldest ready event has waited: its ready time, not its creation, numeric times only", async () => {
      await harness.putEvent("worded", {
        event_type: "user.coaching.enabled",
        payload: { uid: "u1" },
        status: "pending",
        next_attempt_at: "soon",
        created_at: 1,
      });
      expect(await store.getHealth({ now: 300 })).toMatchObject({ pendingCount: 1, oldestReadyAt: null });
      // Created long ago, retrying later: waiting out its backoff is no backlog.
      await put(event("backing-off", { next_attempt_at: 400, created_at: 2 }));
      expect(await store.getHealth({ now: 300 })).toMatchObject({ pendingCount: 2, oldestReadyAt: null });
      await put(event("ready", { next_attempt_at: 120, created_at: 9 }));
      await put(event("ready-later", { next_attempt_at: 250, created_at: 3 }));
      expect(await store.getHealth({ now: 300 })).toMatchObject({ pendingCount: 4, oldestReadyAt: 120 });
    });

    it("lists and counts the retriable dead letters only; a requeue restarts the retry window", async () => {
      const letter = (eventId: string, retriable: boolean | undefined) => ({
        event_id: eventId,
        event_type: "coaching.message.created",
        payload: { messageId: eventId },
        error_message: "boom",
        retry_count: 1,
        original_created_at: 10,
        created_at: 30,
        ...(retriable === undefined ? {} : { retriable }),
      });
      for (const [eventId, retriable] of [
        ["passing", true],
        ["permanent", false],
        ["legacy", undefined],
      ] as const) {
        await put(event(eventId));
        await store.deadLetter({
          eventId,
          patch: { status: "dead_letter", attempts: 2, last_error: "boom", lease_until: 30 },
          letter: letter(eventId, retriable),
        });
      }
      expect(await store.listRetriableDeadLetters({ limit: 10 })).toEqual(["passing"]);
      expect(await store.countRetriableDeadLetters()).toBe(1);
      expect(await store.requeue({ eventId: "passing", now: 500 })).toBe(true);
      expect(await store.getEvent("passing")).toMatchObject({ status: "pending", requeued_at: 500 });
      expect(await store.listRetriableDeadLetters({ limit: 10 })).toEqual([]);
      expect(await store.countRetriableDeadLetters()).toBe(0);
    });
  });
}
