/**
 * Closes slots whose runs died and that no run will take over: still running, lease expired
 * more than `STALE_SLOT_AFTER_MS` ago. The scheduler dispatches a user whose current slot is open
 * at every tick (pipeline/scheduler/current-slots.ts), so a slot still running two ticks after
 * its lease ended belongs to a user whose due time moved on (a forced run that died, a schedule
 * the app rewrote), or who is switched off or suspended; closing it lets nothing stay claimed past
 * its expiry. A processor run does not look for such slots itself: that would cost every run a
 * query for what is, at most, housekeeping.
 *
 * A stale slot that holds a message (this version stores a message sent, completing its slot in
 * the same batch, so only an older version leaves one, approved and not yet sent) is finished as
 * a processor run would resume it: the message is put in the journal and sent, with its delivery
 * event, and the slot completed as sent, for a user who has coaching on; for one who switched it
 * off, the slot is left as it is (counted in `heldMessage`), owed when they switch it back on.
 * Each slot write is fenced like every other (the next lease's `create()`): a run taking the slot
 * over at the same moment wins or loses whole.
 */
import { randomUUID } from "node:crypto";
import type { SlotRecord } from "@/core/due-slot";
import { isCoachingEnabled } from "@/core/user";
import { publishStoredMessage } from "./processor/deliver";
import { underNextLease } from "./processor/run";
import type { ProcessorStore } from "./processor-store-ports";

/** Two hourly ticks and more after a lease ended: no run will take the slot over any more. */
export const STALE_SLOT_AFTER_MS = 3 * 60 * 60_000;

/** How long the sweep holds a slot while it sends the message in it (two writes). */
const SWEEP_HOLD_MS = 10 * 60_000;

const HELD =
  "holds an older version's unsent message; its user has coaching off: kept for when it is on again";

const ABANDONED = "abandoned: the run stopped before a message was approved, and no run took the slot over";

export interface StaleSlotSweep {
  /** Closed without a message. */
  closed: number;
  /** Finished by sending the message an older version left in them. */
  delivered: number;
  /** Holding a message for a user who switched coaching off: left as they are. */
  heldMessage: number;
  /** Slots another run took over or completed first. */
  lost: number;
}

/**
 * One fenced write of a stale slot under its next lease. A lease document an older version left
 * at that number without writing the slot (a half-written claim) is stepped past once it has
 * expired, as a processor claim does (core/due-slot.ts `decideClaimAfterConflict`).
 */
async function writeStale(
  store: ProcessorStore,
  slot: SlotRecord,
  now: number,
  claimToken: string,
  fields: Partial<SlotRecord>,
  purpose: "claim" | "complete" | "release",
): Promise<SlotRecord | null> {
  let base = slot;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const next = {
      ...underNextLease(base, now, fields),
      ...(fields.leaseUntil ? { leaseUntil: fields.leaseUntil } : {}),
    };
    if ((await store.claimSlot({ slot: next, purpose, now, claimToken })) === "claimed") return next;
    const [current, lease] = await Promise.all([
      store.getSlot(slot.slotId),
      store.getLease({ slotId: slot.slotId, leaseNumber: next.leaseNumber }),
    ]);
    // Another run took the slot over or completed it: not the sweep's any more.
    if (!current || current.leaseNumber >= next.leaseNumber || current.status !== "running") return null;
    const leaseUntil = lease ? (lease.leaseUntil ?? lease.claimedAt + STALE_SLOT_AFTER_MS) : 0;
    if (leaseUntil > now) return null;
    base = { ...current, leaseNumber: next.leaseNumber };
  }
  return null;
}

export async function closeStaleSlots({
  store,
  now,
  limit,
  deadline = Number.POSITIVE_INFINITY,
  clock = Date.now,
}: {
  store: ProcessorStore;
  now: number;
  limit: number;
  /** No slot is started after this (the clock's time): the sweep runs inside the tick's function. */
  deadline?: number;
  clock?: () => number;
}): Promise<StaleSlotSweep> {
  const sweep: StaleSlotSweep = { closed: 0, delivered: 0, heldMessage: 0, lost: 0 };
  const stale = await store.listStaleRunningSlots({ leaseExpiredBefore: now - STALE_SLOT_AFTER_MS, limit });
  const claimToken = `sweep_${randomUUID()}`;
  for (const slot of stale) {
    if (clock() >= deadline) break;
    const message = await store.getMessage(slot.slotId);
    let held = slot;
    if (message) {
      const user = await store.getUser(slot.uid);
      if (!user?.valid || !isCoachingEnabled(user)) {
        // Left as it is, owed when coaching is on again; released under its next lease with a
        // fresh expiry, so it goes to the back of the sweep's order and cannot crowd out others.
        sweep.heldMessage += 1;
        await writeStale(store, slot, now, claimToken, { failureReason: HELD }, "release");
        continue;
      }
      // Taken like any lease first, so a run resuming the slot at the same moment is fenced out.
      const taken = await writeStale(
        store,
        slot,
        now,
        claimToken,
        { leaseUntil: now + SWEEP_HOLD_MS },
        "claim",
      );
      if (!taken) {
        sweep.lost += 1;
        continue;
      }
      held = taken;
      await publishStoredMessage(store, message, now);
    }
    const completed = await writeStale(
      store,
      held,
      now,
      claimToken,
      {
        status: "completed",
        outcome: message ? "sent" : "generation_failed",
        messageId: message?.id ?? null,
        failureReason: message ? null : ABANDONED,
      },
      "complete",
    );
    if (!completed) sweep.lost += 1;
    else if (message) sweep.delivered += 1;
    else sweep.closed += 1;
  }
  return sweep;
}
