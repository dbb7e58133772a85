/** Putting retriable dead letters back in the outbox's queue, in bulk. */
import { mapWithConcurrency } from "../bounded-concurrency";
import type { EventProcessorDeps } from "./process-event";

/** How many dead letters a bulk requeue would put back (see `requeueRetriableDeadLetters`). */
export function countRetriableDeadLetters({ deps }: { deps: EventProcessorDeps }): Promise<number> {
  return deps.store.countRetriableDeadLetters();
}

/**
 * Puts up to `limit` retriable dead letters back in the queue (after an outage longer than the
 * retry window, say), each with a fresh retry window; permanent failures stay. Handlers are
 * idempotent, so a message already delivered sends nothing again.
 */
export async function requeueRetriableDeadLetters({
  deps,
  now,
  limit,
}: {
  deps: EventProcessorDeps;
  now: number;
  limit: number;
}): Promise<{ requeued: string[] }> {
  const eventIds = await deps.store.listRetriableDeadLetters({ limit });
  const requeued = await mapWithConcurrency(eventIds, 10, async (eventId) =>
    (await deps.store.requeue({ eventId, now })) ? eventId : null,
  );
  return { requeued: requeued.filter((eventId): eventId is string => eventId !== null) };
}
