/**
 * Admission in front of a model for one run: the per-user quota of the key that pays
 * (`keySource`: own-key and default-key calls are counted apart, each under its own limits) and,
 * on the engine's default key, the global LLM ceiling. Both are asked once per run, for the calls
 * the run expects, before its first call; a call beyond them (a regeneration) is asked for alone.
 * Refused, no call is made and the result says when to come back. The run's usage (requests,
 * tokens, cost) is recorded once, by `settle`.
 */
import { describeError } from "@/core/errors";
import type { QuotaLimits } from "@/core/quota";
import type { CeilingDecision, LlmCallCeiling, QuotaGate } from "./llm-limit-ports";
import {
  type CoachModel,
  type LlmCallRecord,
  type LlmResult,
  llmCallRecord,
  type RunModel,
} from "./model-ports";

type Refusal = { kind: "quota" | "ceiling"; retryAt: number; reason: string };

/** Admits calls in advance and lets them through; asks again for calls beyond what it admitted. */
interface Admission {
  /** Null: admitted. */
  admit(calls: number, now: number): Promise<Refusal | null>;
}

function notCalled<Output>(
  model: CoachModel,
  purpose: LlmCallRecord["purpose"],
  keySource: LlmCallRecord["keySource"],
  refusal: Refusal,
): LlmResult<Output> {
  return {
    ok: false,
    retriable: true,
    reason: `${refusal.kind}: ${refusal.reason}`,
    statusCode: null,
    ...(refusal.kind === "quota" ? { quotaRetryAt: refusal.retryAt } : { ceilingRetryAt: refusal.retryAt }),
    call: llmCallRecord({
      purpose,
      model:
        purpose === "generation" || purpose === "regeneration" ? model.generationModel : model.scoringModel,
      keySource,
      error: `not called: ${refusal.reason}`,
    }),
  };
}

/**
 * The per-user quota of one pool for one run: checked once for `expectedCalls` at the first call,
 * then again for each call beyond them; usage recorded once at `settle`.
 */
export function createRunQuotaCoach({
  model,
  quota,
  uid,
  limits,
  now,
  keySource,
  expectedCalls,
  ceiling,
  warn,
}: {
  model: CoachModel;
  quota: QuotaGate;
  uid: string;
  limits: QuotaLimits;
  now: number;
  keySource: "user" | "default";
  /** The calls the run expects; admitted together before the first. */
  expectedCalls: number;
  /** The global ceiling, for calls on the engine's default key; null on a user's own key, or unset. */
  ceiling: LlmCallCeiling | null;
  /**
   * Told when the ceiling cannot be asked: the run is then deferred, which counts nothing and
   * records no error, so this warning is what shows operators that runs are stopped by it.
   */
  warn?: (message: string, context: Record<string, unknown>) => void;
}): RunModel {
  let admitted = 0;
  let made = 0;
  const usage = { inputTokens: 0, outputTokens: 0, cost: 0 };
  const admission: Admission = {
    async admit(calls) {
      // The calls this run made already are not recorded yet (`settle`): counted here.
      const decision = await quota.admitRun({ uid, now, limits, keySource, calls: made + calls });
      if (!decision.allowed) return { kind: "quota", retryAt: decision.retryAt, reason: decision.reason };
      // The ceiling after the quota: a reservation on it is spent whether or not the calls go out.
      if (ceiling) {
        // A ceiling that cannot be asked (its storage failing) defers the run like a spent one: the
        // provider's limit is not the user's failure and must not push them toward suspension.
        const reserved = await ceiling
          .reserve({ calls, now, seed: uid })
          .catch((error: unknown): CeilingDecision => {
            warn?.("LLM ceiling unavailable; the run is deferred to the next minute", {
              uid,
              error: describeError(error),
            });
            return {
              admitted: false,
              retryAt: (Math.floor(now / 60_000) + 1) * 60_000,
              reason: `LLM ceiling unavailable: ${describeError(error)}`,
            };
          });
        if (!reserved.admitted)
          return { kind: "ceiling", retryAt: reserved.retryAt, reason: reserved.reason };
      }
      return null;
    },
  };
  const guarded = async <Output>(
    purpose: LlmCallRecord["purpose"],
    run: () => Promise<LlmResult<Output>>,
  ): Promise<LlmResult<Output>> => {
    if (made >= admitted) {
      const calls = admitted === 0 ? Math.max(1, expectedCalls) : 1;
      const refusal = await admission.admit(calls, now);
      if (refusal) return notCalled(model, purpose, keySource, refusal);
      admitted += calls;
    }
    made += 1;
    const result = await run();
    usage.inputTokens += result.call.inputTokens ?? 0;
    usage.outputTokens += result.call.outputTokens ?? 0;
    usage.cost += result.call.cost ?? 0;
    return result;
  };
  let settled = false;
  return {
    model: {
      generationModel: model.generationModel,
      scoringModel: model.scoringModel,
      generateMessage: (input) => guarded(input.purpose, () => model.generateMessage(input)),
      simulateOutcome: (input) => guarded("outcome_simulation", () => model.simulateOutcome(input)),
      analyseJournal: (input) => guarded("insights", () => model.analyseJournal(input)),
    },
    async settle() {
      if (settled || made === 0) return;
      settled = true;
      await quota.recordRun({ uid, now, keySource, requests: made, ...usage });
    },
  };
}
