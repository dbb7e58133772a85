/**
 * The writers of the high-volume collections stamp the TTL field (`expireAt`, a Timestamp) that a
 * Firestore TTL policy reads, at the write that makes a document deletable and never on a live
 * one: a running slot, a pending event (core/retention.ts).
 */
import { type Firestore, Timestamp } from "firebase-admin/firestore";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createFirestoreEventStore } from "@/adapters/firestore/event-store";
import { createFirestoreLlmBreaker } from "@/adapters/firestore/llm-breaker";
import { createFirestoreLlmCeiling } from "@/adapters/firestore/llm-ceiling";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import type { SlotRecord } from "@/core/due-slot";
import { newEvent } from "@/core/events";
import type { StoredMessage } from "@/pipeline/processor-store-ports";
import { type EmulatorHandle, startTestEmulator } from "../../support/firestore";

const DAY = 24 * 3_600_000;
const NOW = 1_800_000_000_000;

let handle: EmulatorHandle;
let db: Firestore;

beforeAll(async () => {
  handle = await startTestEmulator();
});
afterAll(async () => {
  await handle?.stop();
});
beforeEach(() => {
  ({ db } = handle.freshProject("ttl"));
});

async function fieldsOf(path: string): Promise<Record<string, unknown>> {
  const snapshot = await db.doc(path).get();
  if (!snapshot.exists) throw new Error(`${path} is missing`);
  return snapshot.data() ?? {};
}

/** Whether a TTL policy would ever delete the document: only a Timestamp `expireAt` expires. */
async function expires(path: string): Promise<boolean> {
  return (await fieldsOf(path)).expireAt instanceof Timestamp;
}

/** The document's `expireAt`, which must be a Timestamp, in Unix ms. */
async function expiryOf(path: string): Promise<number> {
  const expireAt = (await fieldsOf(path)).expireAt;
  expect(expireAt).toBeInstanceOf(Timestamp);
  return (expireAt as Timestamp).toMillis();
}

function slotRecord(fields: Partial<SlotRecord> = {}): SlotRecord {
  return {
    slotId: "u1_100",
    uid: "u1",
    dueAt: 100,
    forced: false,
    status: "running",
    leaseNumber: 1,
    leaseUntil: NOW + 60_000,
    outcome: null,
    messageId: null,
    nextCoachingMessageDue: null,
    failureReason: null,
    createdAt: NOW,
    updatedAt: NOW,
    ...fields,
  };
}

describe("slots and their leases", () => {
  it("stamps every lease, and a slot only when it completes", async () => {
    const store = createFirestoreProcessorStore(db);
    // The first lease is the slot's own create(): no lease document, and a running slot has no TTL.
    await store.claimSlot({ slot: slotRecord(), purpose: "claim", now: NOW, claimToken: "run-1" });
    expect(await fieldsOf("coachingSlots/u1_100")).not.toHaveProperty("expireAt");

    const done = NOW + 60_000;
    const completed = slotRecord({
      status: "completed",
      leaseNumber: 2,
      leaseUntil: done,
      outcome: "sent",
      updatedAt: done,
    });
    expect(
      await store.claimSlot({ slot: completed, purpose: "complete", now: done, claimToken: "run-1" }),
    ).toBe("claimed");
    expect(await expiryOf("coachingSlotLeases/u1_100_2")).toBe(done + 7 * DAY);
    expect(await expiryOf("coachingSlots/u1_100")).toBe(done + 30 * DAY);
    // The slot reads back as it was written: the TTL field is storage, not part of the record.
    expect(await store.getSlot("u1_100")).toEqual({ ...completed, claimToken: "run-1" });
  });

  it("stamps a slot completed by the batch that stores its sent message", async () => {
    const store = createFirestoreProcessorStore(db);
    await store.claimSlot({
      slot: slotRecord({ slotId: "u1_200", dueAt: 200 }),
      purpose: "claim",
      now: NOW,
      claimToken: "run-1",
    });
    const done = NOW + 60_000;
    const completed = slotRecord({
      slotId: "u1_200",
      dueAt: 200,
      status: "completed",
      leaseUntil: done,
      outcome: "sent",
      messageId: "u1_200",
      updatedAt: done,
    });
    const sent = {
      id: "u1_200",
      uid: "u1",
      slotId: "u1_200",
      createdAt: done,
      updatedAt: done,
      status: "sent",
      wasSent: true,
    } as unknown as StoredMessage;
    await store.storeSentMessage({
      message: sent,
      journalEntry: { entryId: "coaching_u1_200", entry: { createdAt: done } as never },
      deliveryEvent: { id: "coaching.message.created_u1_200" } as never,
      completedSlot: completed,
      claimToken: "run-1",
    });
    expect(await expiryOf("coachingSlots/u1_200")).toBe(done + 30 * DAY);
    expect(await fieldsOf("coachingMessages/u1_200")).not.toHaveProperty("expireAt");
  });

  it("never stamps a released (still running) slot", async () => {
    const store = createFirestoreProcessorStore(db);
    await store.claimSlot({ slot: slotRecord(), purpose: "claim", now: NOW, claimToken: "run-1" });
    const released = slotRecord({ leaseNumber: 2, leaseUntil: NOW + 1_000, updatedAt: NOW + 1_000 });
    await store.claimSlot({ slot: released, purpose: "release", now: NOW + 1_000, claimToken: "run-1" });
    expect(await fieldsOf("coachingSlots/u1_100")).not.toHaveProperty("expireAt");
    expect(await expiryOf("coachingSlotLeases/u1_100_2")).toBe(NOW + 1_000 + 7 * DAY);
  });
});

describe("coaching messages", () => {
  const message = (fields: Partial<StoredMessage>) =>
    ({
      id: "u1_100_1_1",
      uid: "u1",
      slotId: "u1_100",
      createdAt: NOW,
      updatedAt: NOW,
      ...fields,
    }) as StoredMessage;

  it.each(["rejected", "failed"] as const)("stamps a %s attempt from its creation", async (status) => {
    const store = createFirestoreProcessorStore(db);
    await store.saveMessage(message({ status, wasSent: false }));
    expect(await expiryOf("coachingMessages/u1_100_1_1")).toBe(NOW + 30 * DAY);
    expect(await store.getMessage("u1_100_1_1")).not.toHaveProperty("expireAt");
  });

  it("never stamps the approved message, which becomes the user's", async () => {
    const store = createFirestoreProcessorStore(db);
    await store.createMessage(message({ id: "u1_100", status: "approved", wasSent: false }));
    expect(await fieldsOf("coachingMessages/u1_100")).not.toHaveProperty("expireAt");
  });
});

describe("outbox events and their leases", () => {
  const eventId = "e1";
  const putEvent = async () => {
    const event = newEvent({
      id: eventId,
      eventType: "coaching.message.created",
      aggregateId: "u1_100",
      aggregateType: "coachingMessage",
      payload: {},
      createdBy: "test",
      now: NOW,
    });
    await db
      .collection("events")
      .doc(eventId)
      .set({ ...event });
  };
  const claim = (store: ReturnType<typeof createFirestoreEventStore>, leaseNumber: number, now: number) =>
    store.claimEvent({
      eventId,
      leaseNumber,
      now,
      leaseUntil: now + 60_000,
      attempts: leaseNumber,
      nextAttemptAt: now + 60_000,
      claimToken: `token-${leaseNumber}`,
    });

  it("stamps each lease, a processed event from its processing, and never a pending one", async () => {
    const store = createFirestoreEventStore(db);
    await putEvent();
    expect(await claim(store, 1, NOW)).toBe(true);
    expect(await expiryOf("eventLeases/e1_1")).toBe(NOW + 7 * DAY);
    expect(await expires("events/e1")).toBe(false);

    const processedAt = NOW + 5_000;
    await store.updateEvent(eventId, {
      processed: true,
      status: "processed",
      processed_at: processedAt,
      last_error: null,
      lease_until: processedAt,
    });
    expect(await expiryOf("events/e1")).toBe(processedAt + 30 * DAY);
    expect(await store.getEvent(eventId)).not.toHaveProperty("expireAt");

    // Replayed: pending again, so the TTL must not remove it.
    expect(await store.requeue({ eventId, now: NOW + DAY })).toBe(true);
    expect(await expires("events/e1")).toBe(false);
  });

  it("stamps a dead-lettered event for 180 days from its creation, and unstamps it on replay", async () => {
    const store = createFirestoreEventStore(db);
    await putEvent();
    await claim(store, 1, NOW);
    await store.deadLetter({
      eventId,
      patch: { status: "dead_letter", attempts: 1, last_error: "bad", lease_until: NOW + 1_000 },
      letter: {
        event_id: eventId,
        event_type: "coaching.message.created",
        payload: {},
        error_message: "bad",
        retry_count: 0,
        original_created_at: NOW,
        created_at: NOW + 1_000,
      },
    });
    expect(await expiryOf("events/e1")).toBe(NOW + 180 * DAY);
    await store.requeue({ eventId, now: NOW + DAY });
    expect(await expires("events/e1")).toBe(false);
  });

  it("stamps a requeued event that is dead-lettered again from its requeue, so it does not expire before its letter (review 2, item 2)", async () => {
    const store = createFirestoreEventStore(db);
    await putEvent();
    await claim(store, 1, NOW);
    const requeuedAt = NOW + 200 * DAY;
    await store.requeue({ eventId, now: requeuedAt });
    await store.deadLetter({
      eventId,
      patch: {
        status: "dead_letter",
        attempts: 1,
        last_error: "bad",
        lease_until: requeuedAt + 1_000,
        requeued_at: requeuedAt,
      },
      letter: {
        event_id: eventId,
        event_type: "coaching.message.created",
        payload: {},
        error_message: "bad",
        retry_count: 0,
        original_created_at: NOW,
        created_at: requeuedAt + 1_000,
      },
    });
    expect(await expiryOf("events/e1")).toBe(requeuedAt + 180 * DAY);
  });

  it("removes the stamp when a claim or a retry makes the event pending again", async () => {
    const store = createFirestoreEventStore(db);
    await putEvent();
    await db.doc("events/e1").update({ expireAt: Timestamp.fromMillis(NOW) });
    await claim(store, 1, NOW);
    expect(await expires("events/e1")).toBe(false);
    await db.doc("events/e1").update({ expireAt: Timestamp.fromMillis(NOW) });
    await store.updateEvent(eventId, {
      status: "pending",
      last_error: "x",
      next_attempt_at: NOW,
      lease_until: NOW,
    });
    expect(await expires("events/e1")).toBe(false);
  });
});

describe("LLM breaker probes", () => {
  it("stamps the probe claim", async () => {
    const settings = { failureThreshold: 3, cooldownMs: 60_000, probeTimeoutMs: 300_000 };
    await db.doc("systemState/llmBreaker").set({
      state: "open",
      consecutiveFailures: 3,
      openedAt: NOW - 120_000,
      openUntil: NOW - 60_000,
      lastFailureAt: NOW - 120_000,
      lastError: "down",
    });
    const breaker = createFirestoreLlmBreaker(db, settings);
    expect(await breaker.acquire(NOW)).toBe("probe");
    const claims = await db.collection("llmBreakerProbes").get();
    expect(claims.size).toBe(1);
    expect(await expiryOf(claims.docs[0]?.ref.path ?? "")).toBe(NOW + 7 * DAY);
  });
});

describe("the global LLM ceiling's shards", () => {
  it("stamps every shard two days after its minute", async () => {
    const ceiling = createFirestoreLlmCeiling(db, { callsPerMinute: 10 });
    expect(await ceiling.reserve({ calls: 1, now: NOW, seed: "u1" })).toEqual({ admitted: true });
    const shards = await db.collection("llmCallCeiling").get();
    expect(shards.size).toBe(1);
    const minuteStart = Math.floor(NOW / 60_000) * 60_000;
    expect(await expiryOf(shards.docs[0]?.ref.path ?? "")).toBe(minuteStart + 2 * DAY);
  });
});
