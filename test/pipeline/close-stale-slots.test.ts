/**
 * The tick's sweep of slots nobody will take over (pipeline/close-stale-slots.ts), over the
 * in-memory processor store (held to the same store contract as Firestore's).
 */
import { describe, expect, it } from "vitest";
import { createInMemoryProcessorData, createInMemoryProcessorStore } from "@/adapters/memory/processor-store";
import { createInMemoryDatabase } from "@/adapters/memory/scheduler-store";
import type { SlotRecord } from "@/core/due-slot";
import { closeStaleSlots, STALE_SLOT_AFTER_MS } from "@/pipeline/close-stale-slots";
import type { StoredMessage } from "@/pipeline/processor-store-ports";
import { userDocument } from "../support/users";

const HOUR = 3_600_000;
const NOW = Date.parse("2026-11-30T12:00:00Z");

function runningSlot(uid: string, dueAt: number, leaseNumber = 1): SlotRecord {
  return {
    slotId: `${uid}_${dueAt}`,
    uid,
    dueAt,
    forced: false,
    status: "running",
    leaseNumber,
    leaseUntil: dueAt + 600_000,
    outcome: null,
    messageId: null,
    nextCoachingMessageDue: null,
    failureReason: null,
    createdAt: dueAt,
    updatedAt: dueAt,
  };
}

function world() {
  const database = createInMemoryDatabase();
  const data = createInMemoryProcessorData();
  return { database, data, store: createInMemoryProcessorStore(database, data) };
}

describe("the stale slot sweep", () => {
  it("does not jam on slots it must keep: a held slot goes to the back, and the others are closed", async () => {
    const { database, data, store } = world();
    database.users.set("paused", userDocument({ enabled: false }));
    // 100 slots an older version left with an unsent message, for a user who switched coaching off:
    // all older than the slot the sweep must close.
    for (let index = 0; index < 100; index += 1) {
      const slot = runningSlot("paused", NOW - 100 * HOUR + index);
      data.slots.set(slot.slotId, slot);
      data.messages.set(slot.slotId, {
        id: slot.slotId,
        uid: "paused",
        slotId: slot.slotId,
        status: "approved",
      } as StoredMessage);
    }
    const abandoned = runningSlot("gone", NOW - 10 * HOUR);
    data.slots.set(abandoned.slotId, abandoned);

    const first = await closeStaleSlots({ store, now: NOW, limit: 100 });
    expect(first).toMatchObject({ heldMessage: 100, closed: 0 });
    const second = await closeStaleSlots({ store, now: NOW + HOUR, limit: 100 });
    expect(second).toMatchObject({ closed: 1 });
    expect(data.slots.get(abandoned.slotId)).toMatchObject({
      status: "completed",
      outcome: "generation_failed",
    });
    // The held ones are still running, their messages unsent, until coaching is on again.
    expect(
      [...data.slots.values()].filter((slot) => slot.uid === "paused" && slot.status === "running"),
    ).toHaveLength(100);
  });

  it("steps past a lease an older version created without writing the slot, once that lease has expired", async () => {
    const { data, store } = world();
    const slot = runningSlot("half", NOW - 10 * HOUR);
    data.slots.set(slot.slotId, slot);
    data.leases.set(`${slot.slotId}_2`, { claimedAt: NOW - 9 * HOUR, leaseUntil: NOW - 9 * HOUR + 600_000 });
    expect(await closeStaleSlots({ store, now: NOW, limit: 100 })).toMatchObject({ closed: 1, lost: 0 });
    expect(data.slots.get(slot.slotId)).toMatchObject({ status: "completed", leaseNumber: 3 });
  });

  it("leaves a slot alone while its lease ended less than STALE_SLOT_AFTER_MS ago, and starts nothing after its deadline", async () => {
    const { data, store } = world();
    const recent = runningSlot("recent", NOW - STALE_SLOT_AFTER_MS);
    data.slots.set(recent.slotId, recent);
    expect(await closeStaleSlots({ store, now: NOW, limit: 100 })).toMatchObject({ closed: 0 });
    const old = runningSlot("old", NOW - 10 * HOUR);
    data.slots.set(old.slotId, old);
    expect(await closeStaleSlots({ store, now: NOW, limit: 100, deadline: 0, clock: () => 1 })).toMatchObject(
      {
        closed: 0,
      },
    );
    expect(data.slots.get(old.slotId)?.status).toBe("running");
  });
});
