import { expect, it } from "vitest";
import { EVENT_HANDLER_DESCRIPTIONS } from "@/pipeline/outbox/handler-registry";
import { wireMemoryOutbox } from "../../support/memory-outbox";

it("the health route's list of event types is the registry's, with the same descriptions", () => {
  // The registry as the routes wire it (services/outbox.ts): every handler production runs.
  const { registry } = wireMemoryOutbox();
  expect(
    Object.fromEntries(
      Object.entries(registry).map(([eventType, handler]) => [eventType, handler.description]),
    ),
  ).toEqual(EVENT_HANDLER_DESCRIPTIONS);
});
