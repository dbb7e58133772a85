import {
  type DeadLetterGroup,
  type DeadLetterSummary,
  deadLetterGroupKey,
  groupDeadLetters,
} from "@/core/dead-letter-groups";
import { mapWithConcurrency } from "./bounded-concurrency";

/**
 * Dead letters grouped over the newest this many: a page view and a group replay each read at
 * most this many documents (plus one count), however many dead letters there are.
 */
export const DEAD_LETTER_GROUP_WINDOW = 500;

export interface DeadLetterGroupPorts {
  /** The newest `limit` dead letters, newest first. */
  recentDeadLetters(limit: number): Promise<DeadLetterSummary[]>;
  /** The outbox's one-event requeue (the per-event replay): false when the event is gone. */
  requeue(input: { eventId: string; now: number }): Promise<boolean>;
}

export type GroupReplayResult =
  | { ok: true; requeued: string[]; missing: number }
  | { ok: false; reason: "count_changed"; count: number };

/** The newest dead letters, grouped by event type and error signature. */
export async function deadLetterGroups(ports: Pick<DeadLetterGroupPorts, "recentDeadLetters">): Promise<{
  groups: DeadLetterGroup[];
  lettersRead: number;
}> {
  const letters = await ports.recentDeadLetters(DEAD_LETTER_GROUP_WINDOW);
  return { groups: groupDeadLetters(letters), lettersRead: letters.length };
}

/**
 * Requeues every dead letter of one group, as the per-event replay does, once the group still
 * has the count the operator saw and confirmed: a group that grew or shrank since (new failures,
 * another admin's replay) is refused with its current count, and nothing is requeued.
 * Requeuing is idempotent per event (the dead letter is deleted with the requeue), so a replay
 * that runs twice requeues each event once.
 */
export async function replayDeadLetterGroup({
  ports,
  group,
  expectedCount,
  now,
}: {
  ports: DeadLetterGroupPorts;
  group: { eventType: string; errorSignature: string };
  expectedCount: number;
  now: number;
}): Promise<GroupReplayResult> {
  const { groups } = await deadLetterGroups(ports);
  const key = deadLetterGroupKey(group);
  const current = groups.find((candidate) => deadLetterGroupKey(candidate) === key);
  const count = current?.count ?? 0;
  if (!current || count !== expectedCount) return { ok: false, reason: "count_changed", count };
  const outcomes = await mapWithConcurrency(current.eventIds, 10, async (eventId) =>
    (await ports.requeue({ eventId, now })) ? eventId : null,
  );
  const requeued = outcomes.filter((eventId): eventId is string => eventId !== null);
  return { ok: true, requeued, missing: current.eventIds.length - requeued.length };
}
