/**
 * A user's own key with the engine's key behind it: when the provider rejects the user's key
 * (401, 402, 403, 429) the same call is made again on the default key, the fallback is recorded
 * on the call, and the key's status is reported so it is not tried again while it is bad.
 */
import type { CoachModel, LlmResult } from "./processor-ports";

export const KEY_REJECTION_STATUSES: ReadonlySet<number> = new Set([401, 402, 403, 429]);

export type KeyStatus = "active" | "invalid" | "insufficient_credits" | "rate_limited";

export function keyStatusFor(statusCode: number): KeyStatus {
  if (statusCode === 402) return "insufficient_credits";
  if (statusCode === 429) return "rate_limited";
  return "invalid";
}

export function createFallbackCoach({
  userModel,
  defaultModel,
  onUserKeyRejected,
}: {
  userModel: CoachModel;
  defaultModel: CoachModel;
  onUserKeyRejected: (input: { statusCode: number; reason: string }) => Promise<void>;
}): CoachModel {
  let userKeyRejected = false;
  const withFallback = async <Output>(run: (model: CoachModel) => Promise<LlmResult<Output>>) => {
    if (userKeyRejected) return run(defaultModel);
    const first = await run(userModel);
    if (first.ok || first.statusCode === null || !KEY_REJECTION_STATUSES.has(first.statusCode)) return first;
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
