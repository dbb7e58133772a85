import { type EventRecord, newEvent } from "@/core/events";

/** A new outbox event created at `now`, for the pure outbox rules' tests. */
export function newTestEvent(now: number): EventRecord {
  return newEvent({
    id: "e1",
    eventType: "t",
    aggregateId: "a",
    aggregateType: "x",
    payload: {},
    createdBy: "test",
    now,
  });
}
