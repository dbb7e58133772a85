/** The coaching-enabled handler: a user who switched coaching on gets a due time soon. */
import { z } from "zod";
import { bootstrapDueAt } from "@/core/schedule";
import type { HandlerResult } from "../event-ports";
import type { EventHandlerDeps, HandlerContext } from "./handler-registry";

export const coachingEnabledPayload = z.object({ uid: z.string().min(1) });

/** The user's oldest open slot whose approved message has not been delivered yet, if any. */
async function slotWithApprovedMessage(deps: EventHandlerDeps, uid: string) {
  for (const slot of await deps.store.listOpenSlots({ uid, limit: 3 })) {
    const message = await deps.store.getMessage(slot.slotId);
    if (message?.status === "approved") return slot;
  }
  return null;
}

/**
 * A user who switched coaching on is scheduled soon instead of waiting for the scheduler: at
 * once when they have no due time (missing, null, or of another type, which reads as missing),
 * and brought forward when their due time only parks them (the scheduler parked them while
 * coaching was off, marking `coachingParkedUntil` equal to the due time).
 *
 * A real future due time is never moved earlier: it was set after a message or by the window
 * rules, so an off/on toggle after today's message must not buy a second message today. A
 * stale park mark (not equal to the due time) means the user was rescheduled since, so it
 * counts as a real schedule. A park is only brought forward, never pushed later.
 *
 * Every due time written here carries the enable flag's mirror (`coachingEnabled: true`, which
 * the metrics count). A user whose due time stays as it is but whose mirror does not say enabled
 * gets the mirror alone (no due time, which could undo one written since this read): turning
 * coaching on shows in the figures at once, not at the next due time. A due user is left alone,
 * and so is the mirror of a user put back on a slot's due time that already equals it: the
 * scheduler's or the processor's next write for them carries it (at the next tick).
 */
export async function bootstrapUser(
  deps: EventHandlerDeps,
  payload: z.infer<typeof coachingEnabledPayload>,
  { now }: HandlerContext,
): Promise<HandlerResult> {
  const snapshot = await deps.store.getUser(payload.uid);
  if (!snapshot) return { ok: false, retriable: false, reason: "user not found" };
  if (!snapshot.valid)
    return { ok: false, retriable: false, reason: `user document is invalid: ${snapshot.problem}` };
  if (!snapshot.user.coachingConfig.enableCoachingMessages)
    return { ok: true, detail: "coaching is off again" };
  const due = snapshot.nextCoachingMessageDue;
  // A slot that already holds an approved message (coaching was switched off before it was
  // delivered) goes first: back to its due time, which the scheduler dispatches whatever the
  // window. That delivers the waiting message; it never writes a second one.
  const waiting = await slotWithApprovedMessage(deps, payload.uid);
  if (waiting) {
    if (due !== waiting.dueAt)
      await deps.store.setNextDue({
        uid: payload.uid,
        nextCoachingMessageDue: waiting.dueAt,
        coachingEnabled: true,
      });
    return { ok: true, detail: "resumes the slot holding an approved message" };
  }
  if (typeof due === "number" && due <= now) return { ok: true, detail: "already due" };
  /**
   * The due time kept as it is; the mirror alone is set when it is behind. Not the due time read
   * above written again: an admin's resume or the processor's reschedule may have moved it since.
   */
  const keep = async (detail: string): Promise<HandlerResult> => {
    if (snapshot.user.coachingEnabled !== true) await deps.store.markCoachingEnabled(payload.uid);
    return { ok: true, detail };
  };
  const parked = typeof due === "number" && snapshot.user.coachingParkedUntil === due;
  if (typeof due === "number" && !parked) return keep("keeps its future due time");
  const bootstrap = bootstrapDueAt({
    now,
    frequency: snapshot.user.coachingConfig.frequency,
    random: deps.random,
  });
  if (typeof due === "number" && due <= bootstrap) return keep("park ends sooner than a bootstrap");
  await deps.store.setNextDue({ uid: payload.uid, nextCoachingMessageDue: bootstrap, coachingEnabled: true });
  return { ok: true, detail: parked ? "brought forward from a park" : "bootstrapped" };
}
