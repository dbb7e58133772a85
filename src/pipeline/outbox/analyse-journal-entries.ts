/** The insights handler: a user's new journal entries analysed, under the shared LLM breaker. */
import { z } from "zod";
import type { HandlerResult } from "../event-ports";
import { INSIGHTS_BREAKER_DEFER_MS, type ProbeHold, reportingToBreaker } from "../insights-breaker";
import type { LlmBreaker } from "../llm-limit-ports";
import { ceilingJitterMs } from "../processor/call-outcome";
import { refreshInsights } from "../refresh-insights";
import type { EventHandlerDeps, HandlerContext } from "./handler-registry";

export const journalEntryPayload = z.object({
  uid: z.string().min(1),
  entryId: z.string().min(1).optional(),
});

/** Analyses a user's new journal entries into insights (bounded batches per run). */
export async function analyseNewEntries(
  deps: EventHandlerDeps,
  payload: z.infer<typeof journalEntryPayload>,
  context: HandlerContext,
): Promise<HandlerResult> {
  const { resolveModel, prompts } = deps;
  if (!resolveModel || !prompts)
    return { ok: false, retriable: false, reason: "insights are not configured" };
  const { now } = context;
  const snapshot = await deps.store.getUser(payload.uid);
  if (!snapshot) return { ok: false, retriable: false, reason: "user not found" };
  const breaker = deps.breaker?.() ?? null;
  // While the breaker is open no call is made and nothing is admitted: like a spent ceiling it is
  // not an attempt (given back, never dead-lettered), and the event asks again a minute later.
  const gate = breaker ? await breaker.acquire(now) : "closed";
  if (gate === "open") {
    return {
      ok: false,
      retriable: true,
      reason: "insights: LLM circuit breaker is open; no call made",
      deferUntil: now + INSIGHTS_BREAKER_DEFER_MS + ceilingJitterMs(payload.uid),
    };
  }
  const probe: ProbeHold = { unreported: gate === "probe" };
  try {
    return await analyseUnderBreaker({ ...deps, resolveModel, prompts }, payload, context, breaker, probe);
  } finally {
    // A probe this run holds and did not report (no call was due, a quota stop, a throw) is given
    // back so the next run probes; a release that fails is bounded by the probe's own expiry.
    if (breaker && probe.unreported) await breaker.releaseProbe(now).catch(() => undefined);
  }
}

async function analyseUnderBreaker(
  deps: EventHandlerDeps & Required<Pick<EventHandlerDeps, "resolveModel" | "prompts">>,
  payload: z.infer<typeof journalEntryPayload>,
  { now, remainingMs }: HandlerContext,
  breaker: LlmBreaker | null,
  probe: ProbeHold,
): Promise<HandlerResult> {
  // One call admitted up front (quota, ceiling); each further batch is admitted when it is made.
  const run = await deps.resolveModel({ uid: payload.uid, now, expectedCalls: 1 });
  const result = await refreshInsights({
    store: deps.store,
    model: breaker ? reportingToBreaker({ model: run.model, breaker, now, probe }) : run.model,
    prompts: deps.prompts,
    uid: payload.uid,
    now,
    maxBatches: deps.insightsMaxBatches ?? 3,
    // A call that could outlast the drain would be killed with it, losing its attempt and tokens.
    ...(remainingMs && deps.insightsCallTimeoutMs !== undefined
      ? { canStartCall: () => remainingMs() >= (deps.insightsCallTimeoutMs ?? 0) }
      : {}),
  }).finally(() => run.settle().catch(() => undefined));
  // The cursor has kept its place either way, so nothing is lost meanwhile. A spent global
  // ceiling is not an attempt: the event is due again when the ceiling frees (the next minute,
  // spread by the user's offset) and is never dead-lettered for it; a quota is retried with the
  // outbox's backoff.
  if (result.status === "ceiling_reached" && result.retryAt !== undefined) {
    return {
      ok: false,
      retriable: true,
      reason: `insights: ${result.reason}`,
      deferUntil: result.retryAt + ceilingJitterMs(payload.uid),
    };
  }
  if (result.status === "failed" || result.status === "over_quota" || result.status === "ceiling_reached") {
    return { ok: false, retriable: result.retriable, reason: `insights: ${result.reason}` };
  }
  // Out of time is a success: the cursor moved with each batch, and the next journal event or the
  // pre-generation refresh goes on from there; failing would burn an attempt toward dead letters.
  return { ok: true, detail: `${result.status}, ${result.batches} batch(es)` };
}
