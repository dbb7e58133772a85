import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import { createSlackWebhook } from "@/adapters/alerts/slack-webhook";
import { renderCoachingEmail } from "@/adapters/email/coaching-email";
import { createResendMailer } from "@/adapters/email/resend-mailer";
import { createFirestoreEventStore } from "@/adapters/firestore/event-store";
import { createFirestoreLlmBreaker } from "@/adapters/firestore/llm-breaker";
import { createFirestorePushSubscriptionStore } from "@/adapters/firestore/push-subscription-store";
import { createFirestoreSuppressionList } from "@/adapters/firestore/suppression-store";
import { getPrompts } from "@/adapters/prompts";
import { createNullPushTransport } from "@/adapters/push/null-push";
import { createWebPushTransport } from "@/adapters/push/web-push-transport";
import type { AppConfig } from "@/config";
import { logger } from "@/logger";
import type { AlertWebhook } from "@/pipeline/alert-ports";
import type { EmailRenderer, Mailer, PushTransport } from "@/pipeline/channel-ports";
import type { PushSubscriptionStore, SuppressionList } from "@/pipeline/delivery-ports";
import type { EventStore } from "@/pipeline/event-ports";
import type { LlmBreaker } from "@/pipeline/llm-limit-ports";
import type { CoachModel, Prompts } from "@/pipeline/model-ports";
import { createEventRegistry } from "@/pipeline/outbox/handler-registry";
import type { EventProcessorDeps } from "@/pipeline/outbox/process-event";
import { firestoreProcessorStorage, type ProcessorStorage, wireModelResolver } from "./processor";

/**
 * Where the outbox keeps its state: Firestore in production, the in-memory twins in simulations.
 * The insights handler shares the processor's store, quotas, own keys and ceiling.
 */
export interface OutboxStorage
  extends Pick<ProcessorStorage, "store" | "stateStore" | "quota" | "userKeys" | "ceiling"> {
  events: EventStore;
  /**
   * The processor's breaker, one instance per insights run (an instance remembers the probe it
   * holds): an outage seen by either stops both calling the LLM.
   */
  breaker: () => LlmBreaker;
  /** Consulted before every email. */
  suppressions: SuppressionList;
  /** Read by Web Push when it is built from configuration (the VAPID keys set). */
  pushSubscriptions?: PushSubscriptionStore;
}

/** The outbox's storage on Firestore, from configuration. */
export function firestoreOutboxStorage(db: Firestore, config: AppConfig): OutboxStorage {
  const { store, stateStore, quota, userKeys, ceiling } = firestoreProcessorStorage(db, config);
  return {
    events: createFirestoreEventStore(db),
    store,
    stateStore,
    quota,
    userKeys,
    ceiling,
    breaker: () => createFirestoreLlmBreaker(db, config.processor.breaker),
    suppressions: createFirestoreSuppressionList(db),
    pushSubscriptions: createFirestorePushSubscriptionStore(db),
  };
}

/** The ports a message or an alert goes out on; each is built from configuration unless given. */
export interface OutboxChannels {
  /** Null: email is off (no RESEND_API_KEY), recorded as skipped. */
  mailer?: Mailer | null;
  push?: PushTransport;
  /** Null: no alert is posted (no ALERT_WEBHOOK_URL). */
  alertWebhook?: AlertWebhook | null;
  renderEmail?: EmailRenderer;
}

export interface OutboxWiring {
  config: AppConfig;
  storage: OutboxStorage;
  /** Stand-ins at the channels' ports (simulations, tests); the rest comes from configuration. */
  channels?: OutboxChannels;
  /**
   * The LLM clients for insights; OpenRouter from configuration (none without OPENROUTER_API_KEY:
   * insights are off) unless a simulation stands in at the model interface.
   */
  models?: { defaultModel: CoachModel; modelForKey: (apiKey: string) => CoachModel };
  prompts?: Prompts;
  random?: () => number;
  warn?: (message: string, context: Record<string, unknown>) => void;
}

let warnedEmailOff = false;

/**
 * Resend, or null when RESEND_API_KEY is unset: email is then off, not broken (docs/configuration.md's
 * rule for a feature without its secret). Deliveries record the email as skipped with the
 * reason, the health route says `email: "not_configured"`, and each instance warns once.
 */
function mailerFrom(config: AppConfig): Mailer | null {
  if (config.email) return createResendMailer({ ...config.email, timeoutMs: config.events.emailTimeoutMs });
  if (!warnedEmailOff) {
    warnedEmailOff = true;
    logger.warn("email is off: RESEND_API_KEY is not set; deliveries record the email as skipped", {
      component: "outbox",
    });
  }
  return null;
}

/** Web Push with the VAPID keys; without them push is off, recorded as not delivered. */
function pushTransportFrom(
  config: AppConfig,
  subscriptions: PushSubscriptionStore | undefined,
): PushTransport {
  if (!config.push) return createNullPushTransport();
  if (!subscriptions) throw new Error("push is configured but the outbox storage has no push subscriptions");
  return createWebPushTransport({ ...config.push, subscriptions, extraOrigins: config.pushServiceOrigins });
}

const logWarning = (message: string, context: Record<string, unknown>) =>
  logger.warn(message, { component: "outbox", ...context });

/**
 * The one place the outbox's collaborators are built: the routes, the tests and the chaos
 * simulation call it with their storage and, for tests and simulations, stand-ins at the channels'
 * and the model's ports; the retry policy, the leases, the handler registry, the insights breaker
 * and model resolver, the links and the unsubscribe signing come from configuration here alone.
 */
export function wireOutbox(wiring: OutboxWiring): EventProcessorDeps {
  const { config, storage, channels = {} } = wiring;
  const random = wiring.random ?? Math.random;
  const warn = wiring.warn ?? logWarning;
  // Insights call the LLM only with a client: the engine's key, or a simulation's stand-in.
  const models = wiring.models ?? (config.llm.defaultApiKey ? undefined : null);
  return {
    store: storage.events,
    registry: createEventRegistry({
      store: storage.store,
      stateStore: storage.stateStore,
      warn,
      mailer: channels.mailer === undefined ? mailerFrom(config) : channels.mailer,
      push: channels.push ?? pushTransportFrom(config, storage.pushSubscriptions),
      renderEmail: channels.renderEmail ?? renderCoachingEmail,
      links: config.journalLinks,
      suppressions: storage.suppressions,
      unsubscribe: config.unsubscribe,
      random,
      // The processor's wiring: the same quotas, own keys and global ceiling for insights calls.
      resolveModel:
        models === null
          ? undefined
          : wireModelResolver({ config, storage, models, ...(wiring.warn ? { warn: wiring.warn } : {}) }),
      breaker: storage.breaker,
      prompts: wiring.prompts ?? getPrompts(),
      insightsMaxBatches: config.insights.maxBatchesPerRun,
      insightsCallTimeoutMs: config.llm.timeoutMs,
      alertWebhook:
        channels.alertWebhook === undefined
          ? config.alerts
            ? createSlackWebhook(config.alerts)
            : null
          : channels.alertWebhook,
    }),
    policy: {
      maxRetries: config.events.maxRetries,
      baseDelayMs: config.events.baseDelayMs,
      maxDelayMs: config.events.maxDelayMs,
      maxAgeMs: config.events.maxAgeMs,
    },
    leaseMs: config.events.leaseMs,
    random,
    logWarning: warn,
  };
}
