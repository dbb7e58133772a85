/**
 * The quality gate (docs/generation.md): a message is sent only when the outcome simulation rates it
 * at least `MIN_EFFECTIVENESS_RATING`. REVISE_MESSAGE sends the improved message (when the model
 * gave one); SKIP_MESSAGE never sends, whatever the rating, because the scorer itself advised
 * against it.
 */
import type { OutcomeSimulation } from "./coaching-message";

export const MIN_EFFECTIVENESS_RATING = 6;

export type GateVerdict =
  | { pass: true; messageContent: string; revised: boolean }
  | { pass: false; reason: string };

export function applyQualityGate({
  messageContent,
  outcome,
}: {
  messageContent: string;
  outcome: OutcomeSimulation;
}): GateVerdict {
  if (outcome.effectivenessRating < MIN_EFFECTIVENESS_RATING) {
    return {
      pass: false,
      reason: `effectiveness rating ${outcome.effectivenessRating} is below ${MIN_EFFECTIVENESS_RATING}`,
    };
  }
  if (outcome.recommendedAction === "SKIP_MESSAGE") {
    return { pass: false, reason: "the outcome simulation recommended skipping the message" };
  }
  if (outcome.recommendedAction === "REVISE_MESSAGE") {
    const improved = outcome.improvedMessage.trim();
    if (improved.length < 20) {
      return { pass: false, reason: "REVISE_MESSAGE without a usable improved message" };
    }
    return { pass: true, messageContent: improved, revised: true };
  }
  return { pass: true, messageContent, revised: false };
}
