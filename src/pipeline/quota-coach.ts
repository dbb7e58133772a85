/**
 * Quotas in front of a model: every call first takes a request from the user's quota for the key
 * that pays (`keySource`: own-key and default-key calls are counted apart, each under its own
 * limits) and records its tokens and cost after. Over quota, no call is made and the result says
 * when it frees.
 */
import type { QuotaLimits } from "@/core/quota";
import type { CoachModel, LlmCallRecord, LlmResult, QuotaGate } from "./processor-ports";

export function createQuotaCoach({
  model,
  quota,
  uid,
  limits,
  now,
  keySource,
}: {
  model: CoachModel;
  quota: QuotaGate;
  uid: string;
  limits: QuotaLimits;
  now: number;
  keySource: "user" | "default";
}): CoachModel {
  const guarded = async <Output>(
    purpose: LlmCallRecord["purpose"],
    run: () => Promise<LlmResult<Output>>,
  ): Promise<LlmResult<Output>> => {
    const decision = await quota.acquire({ uid, now, limits, keySource });
    if (!decision.allowed) {
      return {
        ok: false,
        retriable: true,
        reason: `quota: ${decision.reason}`,
        statusCode: null,
        quotaRetryAt: decision.retryAt,
        call: {
          purpose,
          model:
            purpose === "generation" || purpose === "regeneration"
              ? model.generationModel
              : model.scoringModel,
          keySource,
          fallbackReason: null,
          ok: false,
          inputTokens: null,
          outputTokens: null,
          totalTokens: null,
          cost: null,
          durationMs: 0,
          error: `not called: ${decision.reason}`,
        },
      };
    }
    const result = await run();
    await quota.record({
      uid,
      now,
      keySource,
      inputTokens: result.call.inputTokens ?? 0,
      outputTokens: result.call.outputTokens ?? 0,
      cost: result.call.cost ?? 0,
    });
    return result;
  };
  return {
    generationModel: model.generationModel,
    scoringModel: model.scoringModel,
    generateMessage: (input) => guarded(input.purpose, () => model.generateMessage(input)),
    simulateOutcome: (input) => guarded("outcome_simulation", () => model.simulateOutcome(input)),
    analyseJournal: (input) => guarded("insights", () => model.analyseJournal(input)),
  };
}
