import { expect, it } from "vitest";
import {
  createEventRegistry,
  EVENT_HANDLER_DESCRIPTIONS,
  type EventHandlerDeps,
} from "@/pipeline/outbox/handler-registry";

it("the health route's list of event types is the registry's, with the same descriptions", () => {
  // Building the registry calls none of its collaborators: each handler uses them when it runs.
  const registry = createEventRegistry({} as EventHandlerDeps);
  expect(
    Object.fromEntries(
      Object.entries(registry).map(([eventType, handler]) => [eventType, handler.description]),
    ),
  ).toEqual(EVENT_HANDLER_DESCRIPTIONS);
});
