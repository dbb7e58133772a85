/**
 * The current slots of the due users a page would reschedule (outside the window, breaker open):
 * an open slot is dispatched instead, a completed one's recorded next due time is kept.
 */

import { dueSlotId } from "@/core/due-slot";
import type { decideDueUser } from "@/core/scheduler-decisions";
import type { UserSnapshot } from "@/core/user";
import type { RunSchedulerInput } from "./input";
import type { RunRecorder } from "./run-recorder";

/** Outside the window or while the breaker is open, a slot already started must still be finished (or its recorded due time kept). */
const FINISH_OPEN_SLOT_REASONS: ReadonlySet<string> = new Set(["outside_window", "breaker_open"]);

/** What the current slots of a page's users to be rescheduled say, by user id. */
interface CurrentSlots {
  /** Users whose slot is open: dispatched, not rescheduled. */
  open: Set<string>;
  /** Users whose slot completed with a future next due time recorded: that due time is written. */
  recordedDue: Map<string, number>;
}

/**
 * The current slot (`${uid}_${due}`) of each due user that would be rescheduled for being
 * outside the window or for the breaker. An open slot is a run in progress (or one that died):
 * the user is dispatched instead, and the processor decides (its own re-check moves a user outside
 * the window on, as the scheduler would; a live run completes and reschedules itself; a slot
 * nobody takes over is closed by the tick's sweep, pipeline/close-stale-slots.ts). Since a message
 * is stored sent in the batch that completes its slot, no open slot holds a message of this
 * version; this dispatch predates that and is kept as the processor's decision point. A
 * completed slot whose recorded next due time is still ahead means the run
 * completed it and died before rescheduling the user: that recorded due time is the schedule
 * (a weekly user's next message in 7 days, not tomorrow's window). Only these users' slots are
 * read, one read each, by id.
 */
export async function readCurrentSlots(
  input: RunSchedulerInput,
  recorder: RunRecorder,
  decided: { snapshot: UserSnapshot; decision: ReturnType<typeof decideDueUser> }[],
): Promise<CurrentSlots> {
  const slotOwners = new Map<string, string>();
  for (const { snapshot, decision } of decided) {
    const due = snapshot.nextCoachingMessageDue;
    if (decision.action !== "reschedule" || !FINISH_OPEN_SLOT_REASONS.has(decision.reason)) continue;
    if (typeof due !== "number") continue;
    slotOwners.set(dueSlotId({ uid: snapshot.uid, dueAt: due }), snapshot.uid);
  }
  const current: CurrentSlots = { open: new Set(), recordedDue: new Map() };
  if (slotOwners.size === 0) return current;
  const slots = await input.store.getDueSlots([...slotOwners.keys()]);
  recorder.results.documentsRead += slotOwners.size;
  for (const [slotId, slot] of slots) {
    const uid = slotOwners.get(slotId);
    if (uid === undefined) continue;
    if (slot.open) current.open.add(uid);
    else if (slot.nextCoachingMessageDue !== null && slot.nextCoachingMessageDue > input.now) {
      current.recordedDue.set(uid, slot.nextCoachingMessageDue);
    }
  }
  return current;
}
