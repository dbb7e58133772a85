import "server-only";
import { createSelfCall, type SelfCallTarget } from "./self-call";

export const PROCESS_BATCH_PATH = "/api/events/process-batch";

export type DrainContinuation = (
  continuation: number,
) => Promise<{ ok: true } | { ok: false; reason: string }>;

/**
 * Starts another outbox drain by calling the process-batch route itself, with the cron's bearer
 * secret, at the configured base URL (never the request's Host, so a forged header cannot send
 * the secret elsewhere). The route answers 202 at once and drains after the response, so the
 * calling drain never waits for the next one. `continuation` counts the calls of one chain; the
 * route refuses one past EVENT_MAX_CONTINUATIONS, so a chain always ends.
 */
export function createHttpDrainContinuer(target: SelfCallTarget): DrainContinuation {
  const callProcessBatch = createSelfCall("process-batch", PROCESS_BATCH_PATH, target);
  return async (continuation) => {
    const answer = await callProcessBatch({ continuation });
    return answer.ok ? { ok: true } : { ok: false, reason: answer.reason };
  };
}
