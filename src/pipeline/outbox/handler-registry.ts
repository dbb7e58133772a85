/**
 * The typed handler registry: event type → description, payload schema, handler. An event whose
 * type is not here, or whose payload fails its schema, goes straight to dead letters. The
 * handlers: `deliver-message.ts`, `analyse-journal-entries.ts`, `bootstrap-user.ts`, `post-alert.ts`.
 */
import type { z } from "zod";
import { EVENT_TYPES, type EventRecord } from "@/core/events";
import type { AlertWebhook } from "../alert-ports";
import type { EmailRenderer, Mailer, PushTransport } from "../channel-ports";
import type { SuppressionList } from "../delivery-ports";
import type { HandlerResult } from "../event-ports";
import type { LlmBreaker } from "../llm-limit-ports";
import type { Prompts, ResolveRunModel } from "../model-ports";
import type { ProcessingStateStore, ProcessorStore } from "../processor-store-ports";
import { analyseNewEntries, journalEntryPayload } from "./analyse-journal-entries";
import { bootstrapUser, coachingEnabledPayload } from "./bootstrap-user";
import { deliverMessage, messageCreatedPayload } from "./deliver-message";
import { alertNotificationPayload, postAlert } from "./post-alert";

export interface HandlerContext {
  event: EventRecord;
  now: number;
  /** Time left before the run must have ended (the drain's deadline); absent when unbounded. */
  remainingMs?: () => number;
}

export interface EventHandlerDeps {
  store: ProcessorStore;
  /** Where a delivery counts the user's emails and pushes (the processing state), one write each. */
  stateStore: Pick<ProcessingStateStore, "updateState">;
  /** Bookkeeping that failed without failing the delivery (a count write); the logger in production. */
  warn?: (message: string, context: Record<string, unknown>) => void;
  /** The model for one user (their own key, quotas, the global ceiling), for insights. */
  resolveModel?: ResolveRunModel;
  /**
   * The shared LLM circuit breaker, one instance per insights run (an instance remembers the
   * probe it holds); the processor's breaker. Absent: insights calls are not gated (a test double
   * of the model that no outage reaches).
   */
  breaker?: () => LlmBreaker;
  prompts?: Pick<Prompts, "journalInsights">;
  insightsMaxBatches?: number;
  /** The longest an insights LLM call can take (LLM_TIMEOUT_MS): none starts with less time left. */
  insightsCallTimeoutMs?: number;
  /** Null when email is not configured (no RESEND_API_KEY): email is off, recorded as skipped. */
  mailer: Mailer | null;
  push: PushTransport;
  renderEmail: EmailRenderer;
  links: { journalEntryUrl: (entryId: string) => string; preferencesUrl: string };
  /** Consulted before every email: a suppressed address is never emailed. */
  suppressions: SuppressionList;
  /** Signs each email's one-click unsubscribe link; null (UNSUBSCRIBE_SECRET unset): no link, no header. */
  unsubscribe: { secret: string; pageUrl: string; mailto: string | null } | null;
  random: () => number;
  /** Posts alerts (ALERT_WEBHOOK_URL); absent or null when it is unset: nothing is posted. */
  alertWebhook?: AlertWebhook | null;
}

export interface RegisteredHandler {
  description: string;
  /** Retries before dead letters, when this handler wants fewer or more than the outbox's default. */
  maxRetries?: number;
  payloadSchema: z.ZodType<Record<string, unknown>>;
  handle(payload: Record<string, unknown>, context: HandlerContext): Promise<HandlerResult>;
}

function defineHandler<Schema extends z.ZodType<Record<string, unknown>>>(handler: {
  description: string;
  maxRetries?: number;
  payloadSchema: Schema;
  handle(payload: z.infer<Schema>, context: HandlerContext): Promise<HandlerResult>;
}): RegisteredHandler {
  return handler as RegisteredHandler;
}

/**
 * What each registered event type does, as the health route lists it: readable without wiring
 * the handlers' collaborators (a mailer, push, the LLM), so health needs none of them.
 */
export const EVENT_HANDLER_DESCRIPTIONS = {
  [EVENT_TYPES.coachingMessageCreated]:
    "Delivers a stored coaching message: email through Resend (unless turned off) and push",
  [EVENT_TYPES.journalEntryCreated]:
    "Analyses the user's new journal entries into insights for the coaching context",
  [EVENT_TYPES.userCoachingEnabled]:
    "Gives a user who switched coaching on a due time within the bootstrap range when they have none or are parked; never moves a real schedule earlier",
  [EVENT_TYPES.alertNotification]:
    "Posts an operator alert that fired or resolved to ALERT_WEBHOOK_URL (Slack-compatible { text })",
} as const;

export function createEventRegistry(deps: EventHandlerDeps): Readonly<Record<string, RegisteredHandler>> {
  return {
    [EVENT_TYPES.coachingMessageCreated]: defineHandler({
      description: EVENT_HANDLER_DESCRIPTIONS[EVENT_TYPES.coachingMessageCreated],
      payloadSchema: messageCreatedPayload,
      handle: (payload, context) => deliverMessage(deps, payload, context),
    }),
    [EVENT_TYPES.journalEntryCreated]: defineHandler({
      description: EVENT_HANDLER_DESCRIPTIONS[EVENT_TYPES.journalEntryCreated],
      maxRetries: 3,
      payloadSchema: journalEntryPayload,
      handle: (payload, context) => analyseNewEntries(deps, payload, context),
    }),
    [EVENT_TYPES.userCoachingEnabled]: defineHandler({
      description: EVENT_HANDLER_DESCRIPTIONS[EVENT_TYPES.userCoachingEnabled],
      payloadSchema: coachingEnabledPayload,
      handle: (payload, context) => bootstrapUser(deps, payload, context),
    }),
    [EVENT_TYPES.alertNotification]: defineHandler({
      description: EVENT_HANDLER_DESCRIPTIONS[EVENT_TYPES.alertNotification],
      payloadSchema: alertNotificationPayload,
      handle: (payload) => postAlert(deps.alertWebhook ?? null, payload),
    }),
  };
}
