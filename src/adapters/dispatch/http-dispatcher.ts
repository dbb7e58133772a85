import "server-only";
import { context, propagation } from "@opentelemetry/api";
import type { ChainContinuer, Dispatcher } from "@/pipeline/dispatch-ports";
import { createSelfCall, type SelfCallTarget } from "./self-call";

export const PROCESSOR_PATH = "/api/coaching/generateCoachingMessage/processor";

/**
 * Calls the processor route over HTTP, one call per user. The base URL is configuration
 * (`APP_URL` or Vercel's production URL), never the incoming request's Host or forwarded
 * headers, so a forged header cannot redirect the fan-out and its bearer secret elsewhere.
 * A call ends at its own timeout or when the job's signal aborts (the scheduler step's
 * deadline), whichever comes first. The call carries the current trace (W3C `traceparent`), so
 * the tick, its dispatch and the processor's run are one trace.
 */
export function createHttpDispatcher(target: SelfCallTarget): Dispatcher {
  const callProcessor = createSelfCall("processor", PROCESSOR_PATH, target);
  return {
    async dispatch({ userId, runId, signal }) {
      const headers: Record<string, string> = { "x-coaching-run-id": runId };
      // Nothing is added while tracing is off (no propagator registered).
      propagation.inject(context.active(), headers);
      const answer = await callProcessor({ userId }, { signal, headers });
      if (answer.ok) return { ok: true, status: answer.status };
      // Cut off by its timeout or the step's deadline: sent, perhaps, but never answered.
      if (answer.status === null)
        return { ok: false, retriable: true, reason: answer.reason, unconfirmed: answer.aborted };
      return { ok: false, retriable: answer.retriable, reason: answer.reason };
    },
  };
}

export const SCHEDULER_PATH = "/api/coaching/generateCoachingMessage/scheduler";

/**
 * Starts the next step of a scheduler chain by calling the scheduler route itself, through the
 * same bearer-authenticated path as Vercel's cron, at the configured base URL (never the
 * request's Host). The route claims the step and answers 202 at once, running it after the
 * response, so the calling step never waits for the next one.
 */
export function createHttpChainContinuer(target: SelfCallTarget): ChainContinuer {
  const callScheduler = createSelfCall("scheduler", SCHEDULER_PATH, target);
  return {
    async continueChain(continuation) {
      const answer = await callScheduler({ continuation });
      if (answer.ok) return { ok: true, status: answer.status };
      return { ok: false, retriable: answer.retriable, reason: answer.reason };
    },
  };
}
