/**
 * The journaling app as the engine meets it: users switch coaching off and on in their settings,
 * and the app publishes `user.coaching.enabled` when one is switched on (now and then written
 * without `status` or `next_attempt_at`, which only the outbox's stray sweep can queue, and now
 * and then not at all, which only the scheduler's re-check of parked users repairs). One kind of
 * toggle is aimed at a known hole: off and at once on again right after the day's message, which
 * must not buy a second message that day (the "one-per-local-day" invariant).
 */
import { EVENT_TYPES, type EventRecord, newEvent } from "@/core/events";
import { count, HOUR, type World } from "./world";

function publishCoachingEnabled(world: World, uid: string, now: number): void {
  const event = newEvent({
    // At most one app change per virtual minute: the user and the time make the id unique.
    id: `app_enabled_${uid}_${now}`,
    eventType: EVENT_TYPES.userCoachingEnabled,
    aggregateId: uid,
    aggregateType: "user",
    payload: { uid },
    createdBy: "journal-app",
    now,
  });
  if (world.appRandom.chance(world.settings.rates.app.strayEvent)) {
    // The app wrote only what it cares about: the ready query cannot see this document.
    const stray: Record<string, unknown> = { ...event };
    delete stray.status;
    delete stray.next_attempt_at;
    count(world, "app.stray_event");
    world.data.events.set(event.id, stray as unknown as EventRecord);
  } else {
    world.data.events.set(event.id, event);
  }
  world.trace.add(`APP publishes ${EVENT_TYPES.userCoachingEnabled} for (${uid}) as ${event.id}`);
}

function setEnabled(world: World, uid: string, enabled: boolean, now: number): void {
  const document = world.database.users.get(uid);
  const config = document?.coachingConfig as { enableCoachingMessages: boolean } | undefined;
  if (!config) return;
  config.enableCoachingMessages = enabled;
  if (enabled) {
    world.coachedUsers.add(uid);
    world.coachedSince.set(uid, now);
  } else world.coachedUsers.delete(uid);
}

/** One change by the app to one user's coaching switch, at `now`. */
export function appToggles(world: World, now: number): void {
  const uid = `u${world.appRandom.integer(0, world.settings.users - 1)}`;
  const document = world.database.users.get(uid);
  const enabled = (document?.coachingConfig as { enableCoachingMessages?: boolean } | undefined)
    ?.enableCoachingMessages;
  if (enabled === undefined) return;
  if (enabled) {
    const lastSent = (world.data.sentByUser.get(uid) ?? []).at(-1)?.sentAt ?? null;
    if (lastSent !== null && now - lastSent < 12 * HOUR) {
      // Off and on again after today's message, with the app's event.
      setEnabled(world, uid, false, now);
      setEnabled(world, uid, true, now);
      count(world, "app.toggle_off_on_after_message");
      world.trace.add(`APP (${uid}) switches coaching off and on again after a message`);
      publishCoachingEnabled(world, uid, now);
      return;
    }
    setEnabled(world, uid, false, now);
    count(world, "app.toggle_off");
    world.trace.add(`APP (${uid}) switches coaching off`);
    return;
  }
  setEnabled(world, uid, true, now);
  count(world, "app.toggle_on");
  world.trace.add(`APP (${uid}) switches coaching on`);
  // Mostly with the event; without it the scheduler's re-check of parked users finds them.
  if (world.appRandom.chance(0.8)) publishCoachingEnabled(world, uid, now);
}
