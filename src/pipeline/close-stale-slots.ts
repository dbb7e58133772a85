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
import { isCoachingEnabled } from "@/core/user";
import { publishStoredMessage } from "./processor/deliver";
import { underNextLease } from "./processor/run";
import type { ProcessorStore } from "./processor-ports";

/** Two hourly ticks and more after a lease ended: no run will take the slot over any more. */
export const STALE_SLOT_AFTER_MS = 3 * 60 * 60_000;

/** How long the sweep holds a slot while it sends the message in it (two writes). */
const SWEEP_HOLD_MS = 10 * 60_000;

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

export async function closeStaleSlots({
  store,
  now,
  limit,
}: {
  store: ProcessorStore;
  now: number;
  limit: number;
}): Promise<StaleSlotSweep> {
  const sweep: StaleSlotSweep = { closed: 0, delivered: 0, heldMessage: 0, lost: 0 };
  const stale = await store.listStaleRunningSlots({ leaseExpiredBefore: now - STALE_SLOT_AFTER_MS, limit });
  const claimToken = `sweep_${randomUUID()}`;
  for (const slot of stale) {
    const message = await store.getMessage(slot.slotId);
    let held = slot;
    if (message) {
      const user = await store.getUser(slot.uid);
      if (!user?.valid || !isCoachingEnabled(user)) {
        sweep.heldMessage += 1;
        continue;
      }
      // Taken like any lease first, so a run resuming the slot at the same moment is fenced out.
      held = { ...underNextLease(slot, now, {}), leaseUntil: now + SWEEP_HOLD_MS };
      if ((await store.claimSlot({ slot: held, purpose: "claim", now, claimToken })) === "taken") {
        sweep.lost += 1;
        continue;
      }
      await publishStoredMessage(store, message, now);
    }
    const completed = await store.claimSlot({
      slot: underNextLease(held, now, {
        status: "completed",
        outcome: message ? "sent" : "generation_failed",
        messageId: message?.id ?? null,
        failureReason: message ? null : ABANDONED,
      }),
      purpose: "complete",
      now,
      claimToken,
    });
    if (completed === "taken") sweep.lost += 1;
    else if (message) sweep.delivered += 1;
    else sweep.closed += 1;
  }
  return sweep;
}
