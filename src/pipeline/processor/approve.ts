/**
 * Approving a message: the breaker, the run's model (per-user quota and global ceiling admitted
 * once), the context and the insights refresh, generation with one regeneration for novelty, the
 * outcome simulation and the quality gate. Every attempt that does not pass is stored; the one
 * that passes is returned, not yet stored.
 */
import {
  buildCoachingContext,
  MAX_JOURNAL_ENTRIES,
  renderGenerationPrompt,
  renderOutcomePrompt,
} from "@/core/coaching-context";
import { type GeneratedMessage, MESSAGE_MAX_LENGTH } from "@/core/coaching-message";
import { describeError } from "@/core/errors";
import { sanitiseModelText } from "@/core/message-text";
import { ownKeyLookupNeeded } from "@/core/processing-state";
import { applyQualityGate } from "@/core/quality-gate";
import { checkNovelty, NOVELTY_WINDOW } from "@/core/similarity";
import { logAction, logPhase } from "../processing-log";
import type { CoachModel, LlmCallRecord, LlmResult, ProcessorStore, StoredMessage } from "../processor-ports";
import { entriesAfterFromNewest, refreshInsights } from "../refresh-insights";
import { type AttemptBase, messageRecord, sanitiseGenerated } from "./attempt-record";
import { type Approval, admissionStop, type CallFailureOutcome, callFailureOutcome } from "./call-outcome";
import { type ClaimedSlot, type ProcessorDeps, step } from "./run";

/**
 * Asks the breaker, then generates (see `generateUnderBreaker`). A run that acquired the one
 * probe and leaves without reporting a call's result (a quota stop, a throw anywhere before the
 * call) gives the probe back here, in one place, so the breaker never waits on a probe nobody runs.
 */
export async function generateApprovedMessage(
  deps: ProcessorDeps,
  claim: ClaimedSlot,
  now: number,
): Promise<Approval> {
  // While the breaker is open no call is made: the slot gets the retry interval and no attempt is stored.
  const gate = await deps.breaker.acquire(now);
  if (gate === "open") {
    return { ok: false, outcome: "breaker_open", reason: "LLM circuit breaker is open; no call made" };
  }
  const probe = { unreported: gate === "probe" };
  try {
    return await generateUnderBreaker(deps, claim, now, probe);
  } finally {
    // A release that fails is bounded by the probe's own expiry; the run's outcome or error stands.
    if (probe.unreported) await deps.breaker.releaseProbe(now).catch(() => undefined);
  }
}

/**
 * Generates, checks novelty (one regeneration when too close to a recent message), simulates
 * the outcome and applies the gate. Every attempt that does not pass is stored as its own
 * `coachingMessages` document; the one that passes is returned, not yet stored.
 */
async function generateUnderBreaker(
  deps: ProcessorDeps,
  claim: ClaimedSlot,
  now: number,
  probe: { unreported: boolean },
): Promise<Approval> {
  const { store } = deps;
  const { user } = claim;
  const [entries, recentMessages, storedInsights] = await Promise.all([
    store.listJournalEntries({ uid: user.uid, limit: MAX_JOURNAL_ENTRIES }),
    // Read whether or not the user has a processing state: messages can exist without one.
    store.listRecentMessages({ uid: user.uid, limit: NOVELTY_WINDOW }),
    store.getInsights(user.uid),
  ]);
  // Insights are refreshed first when entries were written since the last analysis (one batch
  // here; the journal.entry.created event does the rest). A failed refresh keeps the old ones.
  const newestEntryAt = entries[0]?.createdAt ?? 0;
  const refreshFirst =
    deps.refreshInsightsBeforeGeneration && newestEntryAt > (storedInsights?.analysedThrough ?? 0);
  // Generation and scoring, and the refresh's one call when one is due, admitted at once (per-user
  // quota, global ceiling) before the first call; a regeneration is admitted when it happens.
  const run = await deps.resolveModel({
    uid: user.uid,
    now,
    expectedCalls: refreshFirst ? 3 : 2,
    ownKeyAbsent: !ownKeyLookupNeeded(claim.state, now),
  });
  if (run.ownKeyStored !== undefined) claim.log.ownKeyCheck = { at: now, stored: run.ownKeyStored };
  try {
    return await generateWithModel(deps, claim, now, probe, {
      model: run.model,
      entries,
      recentMessages,
      storedInsights,
      refreshFirst,
    });
  } finally {
    // Usage is bookkeeping, like the breaker's writes: a failure to record it never fails the run.
    await run
      .settle()
      .catch((error: unknown) =>
        deps.warn?.("LLM usage not recorded", { slotId: claim.slot.slotId, error: describeError(error) }),
      );
  }
}

async function generateWithModel(
  deps: ProcessorDeps,
  claim: ClaimedSlot,
  now: number,
  probe: { unreported: boolean },
  {
    model,
    entries,
    recentMessages,
    storedInsights,
    refreshFirst,
  }: {
    model: CoachModel;
    entries: Awaited<ReturnType<ProcessorStore["listJournalEntries"]>>;
    recentMessages: Awaited<ReturnType<ProcessorStore["listRecentMessages"]>>;
    storedInsights: Awaited<ReturnType<ProcessorStore["getInsights"]>>;
    refreshFirst: boolean;
  },
): Promise<Approval> {
  const { store, prompts } = deps;
  const { slot, user } = claim;
  const calls: LlmCallRecord[] = [];
  let insights = storedInsights;
  if (refreshFirst) {
    const refreshed = await refreshInsights({
      store,
      model,
      prompts,
      uid: user.uid,
      now,
      // One batch: part of MAX_LLM_CALLS_PER_RUN (core/due-slot.ts), which LLM_TIMEOUT_MS is checked against.
      maxBatches: 1,
      known: insights,
      // The newest entries were just read for the context: usually they hold every new one.
      firstRead: entriesAfterFromNewest({ newest: entries, cursor: insights?.analysedThrough ?? 0 }),
    });
    calls.push(...refreshed.calls);
    insights = refreshed.insights;
    if (refreshed.status === "over_quota" || refreshed.status === "ceiling_reached") {
      const stop = admissionStop(
        user.uid,
        refreshed.status === "ceiling_reached"
          ? { ok: false, ceilingRetryAt: refreshed.retryAt }
          : { ok: false, quotaRetryAt: refreshed.retryAt },
        refreshed.reason,
      );
      if (stop) return stop;
    }
  }
  const context = buildCoachingContext({
    user,
    now,
    entries,
    recentMessages,
    insightsSummary: insights?.summary,
  });
  // Best-effort: the breaker is one shared document, and a write to it that fails (contention,
  // an outage) must never turn a generated draft into a failed slot. A probe whose result could
  // not be stored stays unreported, so it is released when the run ends and the next run probes.
  // Only calls on the engine's default key are reported: the breaker guards that key, and one
  // user's own key (rate-limited, slow) must neither open it for everyone nor close it.
  const reportCall = async (result: LlmResult<unknown>) => {
    if (result.call.keySource !== "default") return;
    try {
      if (result.ok) await deps.breaker.recordSuccess(now);
      else await deps.breaker.recordFailure(now, result.reason);
      probe.unreported = false;
    } catch (error) {
      const detail = `LLM breaker not updated: ${describeError(error)}`;
      logAction(claim.log, {
        timestamp: now,
        action: "breaker_report_failed",
        details: detail,
        success: false,
      });
      deps.warn?.("LLM breaker not updated; the run carries on", {
        slotId: slot.slotId,
        error: describeError(error),
      });
    }
  };
  /**
   * What follows every LLM call, the same for each: recorded on the attempt, a stop when it was
   * not made (a quota, the ceiling), and the breaker told how the engine's key answered.
   */
  const afterCall = async (result: LlmResult<unknown>): Promise<Approval | null> => {
    calls.push(result.call);
    const stop = admissionStop(user.uid, result, result.ok ? "" : result.reason);
    if (stop) return stop;
    await reportCall(result);
    return null;
  };
  const base: AttemptBase = { context, slot, now, calls, model };
  let attempt = 0;
  const attemptId = () => `${slot.slotId}_${slot.leaseNumber}_${attempt}`;
  const reject = async (
    outcome: "gate_failed" | CallFailureOutcome,
    reason: string,
    fields: Partial<StoredMessage> = {},
  ): Promise<Approval> => {
    await store.saveMessage(
      messageRecord(deps, base, {
        id: attemptId(),
        status: outcome === "gate_failed" ? "rejected" : "failed",
        generationAttempt: attempt,
        failureReason: reason,
        ...fields,
      }),
    );
    return { ok: false, outcome, reason };
  };

  let rejectedDraft: { draft: string; reason: string } | undefined;
  let candidate: GeneratedMessage | undefined;
  while (candidate === undefined) {
    attempt += 1;
    logPhase(claim.log, "generating");
    const generation = await model.generateMessage({
      system: prompts.messageGeneration.text,
      prompt: renderGenerationPrompt(context, rejectedDraft),
      purpose: rejectedDraft ? "regeneration" : "generation",
    });
    const generationStop = await afterCall(generation);
    if (generationStop) return generationStop;
    if (!generation.ok)
      return reject(callFailureOutcome(generation), `generation failed: ${generation.reason}`);
    claim.log.draftsGenerated += 1;
    if (attempt === 1) await step(deps, "generated", claim, now);
    const draft = sanitiseGenerated(generation.output);
    const draftFields = {
      messageContent: draft.messageContent,
      messageType: draft.messageType,
      pushNotificationText: draft.pushNotificationText,
    };
    if (draft.messageContent.length < 20) {
      return reject(
        "generation_failed",
        "the message was empty once links and markup were removed",
        draftFields,
      );
    }
    const novelty = checkNovelty({ candidate: draft, recent: recentMessages });
    if (novelty.novel) {
      candidate = draft;
    } else if (rejectedDraft) {
      return reject(
        "gate_failed",
        `still too close to a recent message after regenerating: ${novelty.reason}`,
        draftFields,
      );
    } else {
      await reject("gate_failed", `too close to a recent message: ${novelty.reason}`, draftFields);
      rejectedDraft = { draft: draft.messageContent, reason: novelty.reason };
    }
  }

  logPhase(claim.log, "scoring");
  const simulation = await model.simulateOutcome({
    system: prompts.outcomeSimulation.text,
    prompt: renderOutcomePrompt(context, candidate),
  });
  const simulationStop = await afterCall(simulation);
  if (simulationStop) return simulationStop;
  const candidateFields = {
    messageContent: candidate.messageContent,
    messageType: candidate.messageType,
    pushNotificationText: candidate.pushNotificationText,
  };
  if (!simulation.ok) {
    return reject(
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
  if (!verdict.pass) return reject("gate_failed", verdict.reason, scoreFields);
  const finalContent = sanitiseModelText(verdict.messageContent, { maxLength: MESSAGE_MAX_LENGTH });
  if (verdict.revised) {
    const revisedNovelty = checkNovelty({
      candidate: { messageType: candidate.messageType, messageContent: finalContent },
      recent: recentMessages,
    });
    if (!revisedNovelty.novel || finalContent.length < 20) {
      return reject(
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
      id: slot.slotId,
      status: "approved",
      generationAttempt: attempt,
      failureReason: null,
      ...scoreFields,
      messageContent: finalContent,
      originalMessageContent: verdict.revised ? candidate.messageContent : null,
    }),
  };
}
