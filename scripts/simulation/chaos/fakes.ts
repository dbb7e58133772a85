/**
 * Stand-ins at the ports the real adapters answer with results, not exceptions: the model
 * (CoachModel), the mailer (Resend-like) and push. Their faults are results, as the real adapters
 * return them (openrouter-coach.ts classifies every failure; resend-mailer.ts turns Resend's
 * `{ error }` into one), and each fault is counted.
 */
import { MESSAGE_TYPES } from "@/core/coaching-message";
import type { EmailRenderer, EmailToSend, Mailer, PushTransport } from "@/pipeline/channel-ports";
import type { CoachModel, LlmCallRecord, LlmResult } from "@/pipeline/model-ports";
import type { Random } from "./random";

/** What a stand-in needs from the world: the clock, the dice, whether faults are on, the books. */
export interface ChaosControls {
  random: Random;
  now(): number;
  faultsOn(): boolean;
  /** Whether the LLM provider is down now (an outage), whatever `faultsOn` says. */
  llmDown(now: number): boolean;
  count(kind: string): void;
  trace(line: string): void;
}

export interface ModelFaultRates {
  error: number;
  timeout: number;
  malformed: number;
}

const WORDS = ["steady", "morning", "launch", "run", "sister", "sleep", "focus", "walk", "plan", "kind"];

function callRecord(purpose: LlmCallRecord["purpose"], error: string | null): LlmCallRecord {
  return {
    purpose,
    model: "chaos",
    keySource: "default",
    fallbackReason: null,
    ok: error === null,
    inputTokens: 800,
    outputTokens: error === null ? 120 : 0,
    totalTokens: error === null ? 920 : 800,
    cost: 0.004,
    durationMs: 0,
    error,
  };
}

/** A model stand-in with errors, timeouts, malformed output and outages (see simulate-weeks.ts for the plain one). */
export function createChaosModel(controls: ChaosControls, rates: ModelFaultRates): CoachModel {
  const { random } = controls;
  let drafts = 0;
  const failure = (
    purpose: LlmCallRecord["purpose"],
    reason: string,
    statusCode: number | null,
  ): LlmResult<never> => ({
    ok: false,
    retriable: true,
    reason,
    statusCode,
    call: callRecord(purpose, reason),
  });
  /** A fault for this call, or null; counted when injected. */
  const fault = (purpose: LlmCallRecord["purpose"]): LlmResult<never> | "garbage" | null => {
    if (controls.llmDown(controls.now())) {
      controls.count("llm.outage_call");
      return failure(purpose, "provider returned 503 Service Unavailable", 503);
    }
    if (!controls.faultsOn()) return null;
    if (random.chance(rates.error)) {
      controls.count("llm.error");
      return failure(purpose, "provider returned 500 Internal Server Error", 500);
    }
    if (random.chance(rates.timeout)) {
      controls.count("llm.timeout");
      return failure(purpose, "LLM call timed out", null);
    }
    if (random.chance(rates.malformed)) {
      controls.count("llm.malformed");
      // Half the time no object matched the schema; half the time it matched but is all markup.
      if (random.chance(0.5))
        return failure(purpose, "No object generated: response did not match schema.", null);
      return "garbage";
    }
    return null;
  };
  return {
    generationModel: "chaos-generation",
    scoringModel: "chaos-scoring",
    async generateMessage({ purpose }) {
      const injected = fault(purpose);
      if (injected !== null && injected !== "garbage") return injected;
      drafts += 1;
      const words = Array.from({ length: 16 }, () => random.pick(WORDS)).join(" ");
      return {
        ok: true,
        call: callRecord(purpose, null),
        output: {
          messageType: random.pick(MESSAGE_TYPES),
          messageContent:
            injected === "garbage"
              ? '<a href="https://x.example/">click</a> ![](https://x.example/i.png)'
              : `${words} (${drafts}).`,
          pushNotificationText: `A note for you (${drafts})`,
          riskLevel: "none" as const,
          riskReason: "",
        },
      };
    },
    async simulateOutcome() {
      const injected = fault("outcome_simulation");
      if (injected === "garbage")
        return failure("outcome_simulation", "No object generated: empty response.", null);
      if (injected !== null) return injected;
      return {
        ok: true,
        call: callRecord("outcome_simulation", null),
        output: {
          effectivenessRating: 8,
          recommendedAction: "SEND_MESSAGE",
          reasoning: "fine",
          improvedMessage: "",
        },
      };
    },
    async analyseJournal() {
      return failure("insights", "insights are not simulated", null);
    },
  };
}

export interface MailerFaultRates {
  error: number;
  conflict: number;
  sentThenError: number;
}

const IDEMPOTENCY_WINDOW_MS = 24 * 3_600_000;

/**
 * A Resend-like mailer: an idempotency key seen in the last 24 h answers the first email's id
 * and sends nothing; errors, 409 `concurrent_idempotent_requests`, and a 500 after the email
 * went out (the response was lost). `onSend` sees every email that actually leaves.
 */
export function createFakeMailer(
  controls: ChaosControls,
  rates: MailerFaultRates,
  onSend: (email: EmailToSend, at: number) => void,
): Mailer {
  const remembered = new Map<string, { id: string; at: number }>();
  let sent = 0;
  return {
    async send(email) {
      const now = controls.now();
      const known = remembered.get(email.idempotencyKey);
      if (known && now - known.at < IDEMPOTENCY_WINDOW_MS) return { ok: true, id: known.id };
      if (controls.faultsOn() && controls.random.chance(rates.error)) {
        controls.count("mail.error");
        return { ok: false, retriable: true, reason: "Resend 500 application_error: internal server error" };
      }
      if (controls.faultsOn() && controls.random.chance(rates.conflict)) {
        controls.count("mail.409");
        return {
          ok: false,
          retriable: true,
          reason: "Resend 409 concurrent_idempotent_requests: same idempotency key in flight",
        };
      }
      sent += 1;
      const id = `email-${sent}`;
      remembered.set(email.idempotencyKey, { id, at: now });
      controls.trace(`mail sent ${email.idempotencyKey} to ${email.to}`);
      onSend(email, now);
      if (controls.faultsOn() && controls.random.chance(rates.sentThenError)) {
        controls.count("mail.sent_then_error");
        return { ok: false, retriable: true, reason: "Resend 500 application_error (the email was sent)" };
      }
      return { ok: true, id };
    },
  };
}

/**
 * Push that always delivers, collapsing requests for one message within 24 h into one
 * notification (as FCM's collapse key or an APNs collapse id does with the message id): a push
 * re-requested after a crash between sending and recording it is not a second notification.
 * `onPush` sees each notification the user gets; re-requests are counted.
 */
export function createFakePush(
  controls: ChaosControls,
  onPush: (notification: { uid: string; messageId: string }, at: number) => void,
): PushTransport {
  const delivered = new Map<string, number>();
  return {
    async send({ uid, messageId }) {
      const now = controls.now();
      const earlier = delivered.get(messageId);
      if (earlier !== undefined && now - earlier < IDEMPOTENCY_WINDOW_MS) {
        controls.count("push.rerequested");
        return { delivered: true };
      }
      delivered.set(messageId, now);
      controls.trace(`push sent ${messageId}`);
      onPush({ uid, messageId }, now);
      return { delivered: true };
    },
  };
}

/** Plain text instead of the React email: the simulator checks delivery, not layout. */
export const renderPlainEmail: EmailRenderer = async (content) => ({
  subject: content.pushNotificationText ?? "Your coaching message",
  html: `<p>${content.messageContent}</p>`,
  text: `${content.messageContent}\n${content.journalEntryUrl ?? ""}`,
});
