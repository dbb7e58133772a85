/**
 * The typed handler registry: event type → description, payload schema, handler. An event whose
 * type is not here, or whose payload fails its schema, goes straight to dead letters.
 */
import { z } from "zod";
import { EVENT_TYPES, type EventRecord } from "@/core/events";
import { bootstrapDueAt } from "@/core/schedule";
import { listUnsubscribeHeaders, signUnsubscribeToken, unsubscribeUrl } from "@/core/unsubscribe";
import type { SuppressionList } from "./delivery-ports";
import type { HandlerResult, HandlerStep } from "./event-ports";
import { INSIGHTS_BREAKER_DEFER_MS, type ProbeHold, reportingToBreaker } from "./insights-breaker";
import { ceilingJitterMs } from "./processor/call-outcome";
import type {
  EmailRenderer,
  LlmBreaker,
  Mailer,
  ProcessorStore,
  Prompts,
  PushTransport,
  ResolveRunModel,
  StoredMessage,
} from "./processor-ports";
import { refreshInsights } from "./refresh-insights";

export interface HandlerContext {
  event: EventRecord;
  now: number;
  /** Called at step boundaries inside a handler; a throw here stops the run as a crash would. */
  onStep?: (step: HandlerStep) => void | Promise<void>;
  /** Time left before the run must have ended (the drain's deadline); absent when unbounded. */
  remainingMs?: () => number;
}

export interface EventHandlerDeps {
  store: ProcessorStore;
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

const messageCreatedPayload = z.object({
  messageId: z.string().min(1),
  uid: z.string().min(1),
  slotId: z.string().min(1),
});

const coachingEnabledPayload = z.object({ uid: z.string().min(1) });

const journalEntryPayload = z.object({ uid: z.string().min(1), entryId: z.string().min(1).optional() });

/**
 * How long after an attempt whose outcome is unknown a retry may still send: Resend keeps an
 * idempotency key 24 h, so within this a resend of an accepted email is deduplicated.
 */
export const EMAIL_IDEMPOTENCY_WINDOW_MS = 23 * 3_600_000;

/** Recorded on a message's email delivery when email is off for want of a key. */
export const EMAIL_NOT_CONFIGURED = "email is not configured (RESEND_API_KEY is unset)";

/** Analyses a user's new journal entries into insights (bounded batches per run). */
async function analyseNewEntries(
  deps: EventHandlerDeps,
  payload: z.infer<typeof journalEntryPayload>,
  context: HandlerContext,
): Promise<HandlerResult> {
  const { resolveModel, prompts } = deps;
  if (!resolveModel || !prompts)
    return { ok: false, retriable: false, reason: "insights are not configured" };
  const { now } = context;
  const snapshot = await deps.store.getUser(payload.uid);
  if (!snapshot) return { ok: false, retriable: false, reason: "user not found" };
  const breaker = deps.breaker?.() ?? null;
  // While the breaker is open no call is made and nothing is admitted: like a spent ceiling it is
  // not an attempt (given back, never dead-lettered), and the event asks again a minute later.
  const gate = breaker ? await breaker.acquire(now) : "closed";
  if (gate === "open") {
    return {
      ok: false,
      retriable: true,
      reason: "insights: LLM circuit breaker is open; no call made",
      deferUntil: now + INSIGHTS_BREAKER_DEFER_MS + ceilingJitterMs(payload.uid),
    };
  }
  const probe: ProbeHold = { unreported: gate === "probe" };
  try {
    return await analyseUnderBreaker({ ...deps, resolveModel, prompts }, payload, context, breaker, probe);
  } finally {
    // A probe this run holds and did not report (no call was due, a quota stop, a throw) is given
    // back so the next run probes; a release that fails is bounded by the probe's own expiry.
    if (breaker && probe.unreported) await breaker.releaseProbe(now).catch(() => undefined);
  }
}

async function analyseUnderBreaker(
  deps: EventHandlerDeps & Required<Pick<EventHandlerDeps, "resolveModel" | "prompts">>,
  payload: z.infer<typeof journalEntryPayload>,
  { now, remainingMs }: HandlerContext,
  breaker: LlmBreaker | null,
  probe: ProbeHold,
): Promise<HandlerResult> {
  // One call admitted up front (quota, ceiling); each further batch is admitted when it is made.
  const run = await deps.resolveModel({ uid: payload.uid, now, expectedCalls: 1 });
  const result = await refreshInsights({
    store: deps.store,
    model: breaker ? reportingToBreaker({ model: run.model, breaker, now, probe }) : run.model,
    prompts: deps.prompts,
    uid: payload.uid,
    now,
    maxBatches: deps.insightsMaxBatches ?? 3,
    // A call that could outlast the drain would be killed with it, losing its attempt and tokens.
    ...(remainingMs && deps.insightsCallTimeoutMs !== undefined
      ? { canStartCall: () => remainingMs() >= (deps.insightsCallTimeoutMs ?? 0) }
      : {}),
  }).finally(() => run.settle().catch(() => undefined));
  // The cursor has kept its place either way, so nothing is lost meanwhile. A spent global
  // ceiling is not an attempt: the event is due again when the ceiling frees (the next minute,
  // spread by the user's offset) and is never dead-lettered for it; a quota is retried with the
  // outbox's backoff.
  if (result.status === "ceiling_reached" && result.retryAt !== undefined) {
    return {
      ok: false,
      retriable: true,
      reason: `insights: ${result.reason}`,
      deferUntil: result.retryAt + ceilingJitterMs(payload.uid),
    };
  }
  if (result.status === "failed" || result.status === "over_quota" || result.status === "ceiling_reached") {
    return { ok: false, retriable: result.retriable, reason: `insights: ${result.reason}` };
  }
  // Out of time is a success: the cursor moved with each batch, and the next journal event or the
  // pre-generation refresh goes on from there; failing would burn an attempt toward dead letters.
  return { ok: true, detail: `${result.status}, ${result.batches} batch(es)` };
}

/** Delivers a sent coaching message: email (unless the user turned it off) and push. */
async function deliverMessage(
  deps: EventHandlerDeps,
  payload: z.infer<typeof messageCreatedPayload>,
  { event, now, onStep }: HandlerContext,
): Promise<HandlerResult> {
  const { store } = deps;
  const message = await store.getMessage(payload.messageId);
  if (!message) return { ok: false, retriable: false, reason: `message ${payload.messageId} not found` };
  if (message.uid !== payload.uid)
    return { ok: false, retriable: false, reason: "message belongs to another user" };
  // Email and push only for a message that is sent and in the journal. New events are created
  // with that transition; an event written with the approved message by an older version can
  // arrive first. Retriable, not final: the slot's resume (the next run for the user) completes
  // it, and a retry then delivers; should the retries run out first, the dead letter can be requeued.
  if (message.status !== "sent" || message.journalEntryId === null) {
    return {
      ok: false,
      retriable: true,
      reason: `message ${message.id} is not sent yet (status ${message.status})`,
    };
  }
  // The engine's own delivery record is the final guard: Resend forgets idempotency keys after 24 h.
  const emailSettled = ["sent", "skipped", "suppressed"].includes(message.delivery.email.status);
  // A push still pending after a settled email is one a push service asked to retry (429, 5xx).
  const pushPending = message.pushNotificationText !== null && message.delivery.push.status === "pending";
  if (emailSettled && !pushPending) {
    return { ok: true, detail: `email already ${message.delivery.email.status}` };
  }
  const snapshot = await store.getUser(message.uid);
  if (!snapshot?.valid) {
    return { ok: false, retriable: false, reason: snapshot ? "user document is invalid" : "user not found" };
  }
  const user = snapshot.user;
  const unknownSince = message.delivery.email.outcomeUnknownSince ?? null;

  let email: StoredMessage["delivery"]["email"];
  /** Why Resend refused the email for good, when it did: the push still goes. */
  let emailRefused: string | null = null;
  if (emailSettled) {
    email = message.delivery.email;
  } else if (user.coachingConfig.emailNotifications === false) {
    email = { status: "skipped", providerId: null, error: null, attemptedAt: null };
  } else if (deps.mailer === null) {
    // Off, not broken: the message and its push stand; the reason says why no email went out.
    email = { status: "skipped", providerId: null, error: EMAIL_NOT_CONFIGURED, attemptedAt: now };
  } else if (unknownSince !== null && now - unknownSince >= EMAIL_IDEMPOTENCY_WINDOW_MS) {
    // An earlier attempt may have delivered it, and its idempotency key has expired at Resend:
    // sending could deliver it twice. Not retriable (a bulk requeue skips it): an operator checks.
    const reason = `email outcome unknown since ${new Date(unknownSince).toISOString()} and Resend's idempotency window has passed: not resent; needs an operator to check delivery`;
    await store.updateMessage(message.id, {
      delivery: {
        ...message.delivery,
        email: { ...message.delivery.email, status: "failed", error: reason },
      },
      updatedAt: now,
    });
    return { ok: false, retriable: false, reason };
  } else {
    // Signed for this user and this address: the link can turn off no one else's email.
    const unsubscribeLink = deps.unsubscribe
      ? unsubscribeUrl({
          pageUrl: deps.unsubscribe.pageUrl,
          token: signUnsubscribeToken({ secret: deps.unsubscribe.secret, uid: user.uid, email: user.email }),
        })
      : null;
    // The suppression list is read while the email renders (CPU-bound), so the check adds no wait.
    const [suppression, rendered] = await Promise.all([
      deps.suppressions.find(user.email),
      deps.renderEmail({
        displayName: user.displayName ?? null,
        messageContent: message.messageContent,
        pushNotificationText: message.pushNotificationText,
        journalEntryUrl: message.journalEntryId ? deps.links.journalEntryUrl(message.journalEntryId) : null,
        preferencesUrl: deps.links.preferencesUrl,
        unsubscribeUrl: unsubscribeLink,
      }),
    ]);
    if (suppression) {
      // A hard bounce or a complaint: mailing the address again hurts the sender's reputation.
      email = {
        status: "suppressed",
        providerId: null,
        error: `the address is on the suppression list (${suppression.reason} at ${new Date(suppression.suppressedAt).toISOString()})`,
        attemptedAt: now,
      };
    } else {
      // The recipient is the user document's, never anything the model wrote.
      const sent = await deps.mailer.send({
        to: user.email,
        ...rendered,
        idempotencyKey: event.id,
        ...(unsubscribeLink && deps.unsubscribe
          ? { headers: listUnsubscribeHeaders({ url: unsubscribeLink, mailto: deps.unsubscribe.mailto }) }
          : {}),
      });
      await onStep?.("email_requested");
      if (!sent.ok) {
        const failed: StoredMessage["delivery"]["email"] = {
          status: "failed",
          providerId: null,
          error: sent.reason,
          attemptedAt: now,
          // The first unknown outcome counts: its key is the one that expires first.
          outcomeUnknownSince: unknownSince ?? (sent.outcomeUnknown ? now : null),
        };
        if (sent.retriable) {
          await store.updateMessage(message.id, {
            delivery: { ...message.delivery, email: failed },
            updatedAt: now,
          });
          return { ok: false, retriable: true, reason: sent.reason };
        }
        // Refused for good (an address Resend will not take): no retry sends it, so the push
        // goes now instead of never; the event still fails below, for an operator to see.
        emailRefused = sent.reason;
        email = failed;
      } else {
        email = { status: "sent", providerId: sent.id, error: null, attemptedAt: now };
      }
    }
  }

  let push: StoredMessage["delivery"]["push"] = message.delivery.push;
  if (message.pushNotificationText && push.status !== "sent") {
    const pushed = await deps.push.send({
      uid: user.uid,
      text: message.pushNotificationText,
      messageId: message.id,
    });
    await onStep?.("push_requested");
    if (!pushed.delivered && pushed.retriable) {
      // The email's outcome is kept; the retry sends the push only (subscriptions already
      // pushed to are claimed, so none gets it twice).
      await store.updateMessage(message.id, {
        delivery: {
          email,
          push: { status: "pending", text: message.pushNotificationText, reason: pushed.reason },
        },
        ...(email.providerId ? { emailProviderId: email.providerId } : {}),
        updatedAt: now,
      });
      return { ok: false, retriable: true, reason: `push: ${pushed.reason}` };
    }
    push = pushed.delivered
      ? { status: "sent", text: message.pushNotificationText, reason: null }
      : { status: "not_delivered", text: message.pushNotificationText, reason: pushed.reason };
  }
  await store.updateMessage(message.id, {
    delivery: { email, push },
    // Top-level, so Resend's webhooks find the message by the email's id.
    ...(email.providerId ? { emailProviderId: email.providerId } : {}),
    // Top-level, for the engagement figures' counts (an equality filter).
    ...(push.status === "sent" ? { pushDelivered: true } : {}),
    updatedAt: now,
  });
  if (emailRefused !== null) return { ok: false, retriable: false, reason: emailRefused };
  return { ok: true, detail: `email ${email.status}, push ${push.status}` };
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
 */
/** The user's oldest open slot whose approved message has not been delivered yet, if any. */
async function slotWithApprovedMessage(deps: EventHandlerDeps, uid: string) {
  for (const slot of await deps.store.listOpenSlots({ uid, limit: 3 })) {
    const message = await deps.store.getMessage(slot.slotId);
    if (message?.status === "approved") return slot;
  }
  return null;
}

async function bootstrapUser(
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
      await deps.store.setNextDue({ uid: payload.uid, nextCoachingMessageDue: waiting.dueAt });
    return { ok: true, detail: "resumes the slot holding an approved message" };
  }
  if (typeof due === "number" && due <= now) return { ok: true, detail: "already due" };
  const parked = typeof due === "number" && snapshot.user.coachingParkedUntil === due;
  if (typeof due === "number" && !parked) return { ok: true, detail: "keeps its future due time" };
  const bootstrap = bootstrapDueAt({
    now,
    frequency: snapshot.user.coachingConfig.frequency,
    random: deps.random,
  });
  if (typeof due === "number" && due <= bootstrap)
    return { ok: true, detail: "park ends sooner than a bootstrap" };
  await deps.store.setNextDue({ uid: payload.uid, nextCoachingMessageDue: bootstrap });
  return { ok: true, detail: parked ? "brought forward from a park" : "bootstrapped" };
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
  };
}
