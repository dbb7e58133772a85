/**
 * The shared LLM circuit breaker around the outbox's insights runs (the `journal.entry.created`
 * handler), by the processor's rules (pipeline/processor/approve.ts): ask before any call, make
 * none while it is open, and tell it how each call on the engine's default key answered.
 */

import type { LlmBreaker } from "./llm-limit-ports";
import type { CoachModel, LlmResult } from "./model-ports";

/**
 * How long an insights event waits when the breaker refused it, before asking again (plus the
 * user's few seconds of `ceilingJitterMs`, so the deferred events are not all due at once). The
 * breaker's port does not say when its next probe goes out; a minute re-asks a few times per
 * cool-down (BREAKER_COOLDOWN_MS, 5 minutes by default) at one read each, and never burns an attempt.
 */
export const INSIGHTS_BREAKER_DEFER_MS = 60_000;

/** Whether the run still holds a probe it has not reported (it must then release it). */
export interface ProbeHold {
  unreported: boolean;
}

/**
 * `model` with each insights call's result reported to `breaker`: a success closes it (or resets
 * its count), a failure counts toward opening it. Only calls on the engine's default key are
 * reported, as the processor does: one user's own key (rate-limited, slow) must neither open the
 * breaker for everyone nor close it. A call that was not made (a quota, the global ceiling) is
 * not reported. Reporting is best-effort: a breaker write that fails never fails the run, and a
 * probe whose result could not be stored stays unreported, so the run releases it.
 */
export function reportingToBreaker({
  model,
  breaker,
  now,
  probe,
}: {
  model: CoachModel;
  breaker: LlmBreaker;
  now: number;
  probe: ProbeHold;
}): CoachModel {
  const report = async (result: LlmResult<unknown>) => {
    if (result.call.keySource !== "default") return;
    if (!result.ok && (result.quotaRetryAt !== undefined || result.ceilingRetryAt !== undefined)) return;
    try {
      if (result.ok) await breaker.recordSuccess(now);
      else await breaker.recordFailure(now, result.reason);
      probe.unreported = false;
    } catch {
      // The breaker is one shared document: contention or an outage there must not fail the event.
    }
  };
  return {
    generationModel: model.generationModel,
    scoringModel: model.scoringModel,
    generateMessage: (input) => model.generateMessage(input),
    simulateOutcome: (input) => model.simulateOutcome(input),
    analyseJournal: async (input) => {
      const result = await model.analyseJournal(input);
      await report(result);
      return result;
    },
  };
}
