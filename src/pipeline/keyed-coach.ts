/**
 * A user's own key with the engine's key behind it: when the provider rejects the user's key
 * (401, 402, 403, 429) the same call is made again on the default key, the fallback is recorded
 * on the call, and the rejection is reported so the key rests (core/user-key-health.ts). Each
 * model arrives with its own quota in front (quota-coach.ts): a fallback call is charged to the
 * default-key limits and budget, never to the looser own-key limits.
 */
import { KEY_REJECTION_STATUSES } from "@/core/user-key-health";
import type { CoachModel, LlmResult } from "./model-ports";

export function createFallbackCoach({
  userModel,
  defaultModel,
  onUserKeyRejected,
  onUserKeyAccepted,
}: {
  /** The user's key, behind the own-key quota. */
  userModel: CoachModel;
  /** The engine's key, behind the default-key quota. */
  defaultModel: CoachModel;
  onUserKeyRejected: (input: { statusCode: number; reason: string }) => Promise<void>;
  /** Called once, after the user's key first answers: a key that had failed is healthy again. */
  onUserKeyAccepted: () => Promise<void>;
}): CoachModel {
  // Once rejected, the rest of the run goes to the default key without asking the user's again.
  let userKeyRejected = false;
  let userKeyAccepted = false;
  const withFallback = async <Output>(run: (model: CoachModel) => Promise<LlmResult<Output>>) => {
    if (userKeyRejected) return run(defaultModel);
    const first = await run(userModel);
    if (first.ok) {
      if (!userKeyAccepted) {
        userKeyAccepted = true;
        await onUserKeyAccepted();
      }
      return first;
    }
    if (first.statusCode === null || !KEY_REJECTION_STATUSES.has(first.statusCode)) return first;
    userKeyRejected = true;
    await onUserKeyRejected({ statusCode: first.statusCode, reason: first.reason });
    const second = await run(defaultModel);
    const fallbackReason = `user key rejected (HTTP ${first.statusCode}); retried on the default key`;
    return { ...second, call: { ...second.call, fallbackReason } };
  };
  return {
    generationModel: userModel.generationModel,
    scoringModel: userModel.scoringModel,
    generateMessage: (input) => withFallback((model) => model.generateMessage(input)),
    simulateOutcome: (input) => withFallback((model) => model.simulateOutcome(input)),
    analyseJournal: (input) => withFallback((model) => model.analyseJournal(input)),
  };
}
