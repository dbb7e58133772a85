/**
 * The outbox as production wires it (services/outbox.ts `wireOutbox`), over the in-memory twins
 * instead of Firestore: for handler tests that need no emulator. Email, push and alerts are off
 * (no RESEND_API_KEY, VAPID keys or ALERT_WEBHOOK_URL), and so are insights (no OPENROUTER_API_KEY).
 */
import { createInMemoryEventStore, createInMemoryOutboxData } from "@/adapters/memory/event-store";
import { createInMemoryLlmBreaker } from "@/adapters/memory/llm-breaker";
import { createInMemoryProcessingStateStore } from "@/adapters/memory/processing-state-store";
import {
  createInMemoryProcessorData,
  createInMemoryProcessorStore,
  type InMemoryProcessorData,
} from "@/adapters/memory/processor-store";
import { createInMemoryDatabase, type InMemoryDatabase } from "@/adapters/memory/scheduler-store";
import { createMemorySuppressionList } from "@/adapters/memory/suppression-list";
import { loadConfig } from "@/config";
import type { EventProcessorDeps } from "@/pipeline/outbox/process-event";
import type { ProcessorStore } from "@/pipeline/processor-store-ports";
import { createStateQuotaGate } from "@/pipeline/state-quota";
import { wireOutbox } from "@/services/outbox";

export function wireMemoryOutbox({
  database = createInMemoryDatabase(),
  data = createInMemoryProcessorData(),
  random = Math.random,
  wrapStore = (store) => store,
}: {
  database?: InMemoryDatabase;
  data?: InMemoryProcessorData;
  random?: () => number;
  /** Wraps the processor store, to inject a fault or a concurrent writer at the port. */
  wrapStore?: (store: ProcessorStore) => ProcessorStore;
} = {}): EventProcessorDeps {
  const config = loadConfig({ NODE_ENV: "test", FIREBASE_PROJECT_ID: "demo-coaching-engine" });
  const stateStore = createInMemoryProcessingStateStore(database, new Map());
  return wireOutbox({
    config,
    storage: {
      events: createInMemoryEventStore(new Map(), createInMemoryOutboxData()),
      store: wrapStore(createInMemoryProcessorStore(database, data)),
      stateStore,
      quota: createStateQuotaGate(stateStore),
      userKeys: null,
      ceiling: null,
      breaker: () => createInMemoryLlmBreaker(database, new Map(), config.processor.breaker),
      suppressions: createMemorySuppressionList(),
    },
    // Null, as without RESEND_API_KEY, but without the warning that email is off.
    channels: { mailer: null },
    random,
    warn: () => undefined,
  });
}
