/** Scoring a draft: the outcome simulation, then the quality gate (whose revision must still pass). */
import { type PastMessage, renderOutcomePrompt } from "@/core/coaching-context";
import { type GeneratedMessage, MESSAGE_MAX_LENGTH } from "@/core/coaching-message";
import { emailStrings } from "@/core/email-strings";
import { sanitiseModelText } from "@/core/message-text";
import { applyQualityGate } from "@/core/quality-gate";
import { needsCare, safetyResourceFor, withSafetyResource } from "@/core/risk";
import { checkNovelty } from "@/core/similarity";
import { logPhase } from "../processing-log";
import { type ApprovalSession, draftFields, followUpCall, rejectAttempt } from "./approval-session";
import { messageRecord } from "./attempt-record";
import { type Approval, callFailureOutcome } from "./call-outcome";

/**
 * Simulates the candidate's outcome and applies the quality gate (which may revise it; a revision
 * must still be novel and not empty). Returns the approved message, not yet stored; under an
 * elevated or acute risk it ends with the helpline text in the message's language (SAFETY_RESOURCES),
 * added by the engine after the gate, so neither the model nor a revision can leave it out. Under
 * risk the push text (also the email's subject and preview), which the scorer never sees, is the
 * engine's neutral line in the user's language instead of the model's: it can never quote an entry.
 */
export async function scoreAndGate(
  session: ApprovalSession,
  candidate: GeneratedMessage,
  recentMessages: readonly PastMessage[],
): Promise<Approval> {
  const { deps, claim, base } = session;
  logPhase(claim.log, "scoring");
  const simulation = await base.model.simulateOutcome({
    system: deps.prompts.outcomeSimulation.text,
    prompt: renderOutcomePrompt(base.context, candidate),
  });
  const simulationStop = await followUpCall(session, simulation);
  if (simulationStop) return simulationStop;
  const candidateFields = draftFields(candidate);
  if (!simulation.ok) {
    return rejectAttempt(
      session,
      callFailureOutcome(simulation),
      `outcome simulation failed: ${simulation.reason}`,
      candidateFields,
    );
  }
  const outcome = simulation.output;
  const scoreFields = {
    ...candidateFields,
    effectivenessRating: outcome.effectivenessRating,
    recommendedAction: outcome.recommendedAction,
    outcomeReasoning: sanitiseModelText(outcome.reasoning),
  };
  const verdict = applyQualityGate({ messageContent: candidate.messageContent, outcome });
  if (!verdict.pass) return rejectAttempt(session, "gate_failed", verdict.reason, scoreFields);
  const finalContent = sanitiseModelText(verdict.messageContent, { maxLength: MESSAGE_MAX_LENGTH });
  if (verdict.revised) {
    const revisedNovelty = checkNovelty({
      candidate: { messageType: candidate.messageType, messageContent: finalContent },
      recent: recentMessages,
    });
    if (!revisedNovelty.novel || finalContent.length < 20) {
      return rejectAttempt(
        session,
        "gate_failed",
        `the revised message is not usable: ${revisedNovelty.novel ? "empty" : revisedNovelty.reason}`,
        {
          ...scoreFields,
          originalMessageContent: candidate.messageContent,
          messageContent: finalContent,
        },
      );
    }
  }
  return {
    ok: true,
    message: messageRecord(deps, base, {
      id: claim.slot.slotId,
      status: "approved",
      generationAttempt: session.attempt,
      failureReason: null,
      ...scoreFields,
      ...(needsCare(candidate.riskLevel)
        ? { pushNotificationText: emailStrings(base.context.language.language).defaultSubject }
        : {}),
      messageContent: needsCare(candidate.riskLevel)
        ? withSafetyResource({
            messageContent: finalContent,
            resource: safetyResourceFor({
              configured: deps.safetyResources,
              language: base.context.language.language,
              locale: base.context.user.locale,
            }),
            maxLength: MESSAGE_MAX_LENGTH,
          })
        : finalContent,
      originalMessageContent: verdict.revised ? candidate.messageContent : null,
    }),
  };
}
