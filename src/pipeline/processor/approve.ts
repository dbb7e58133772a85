/**
 * Approving a message: the breaker, the run's model (per-user quota and global ceiling admitted
 * once), the context and the insights refresh, generation with one regeneration for novelty, the
 * outcome simulation and the quality gate. Every attempt that does not pass is stored; the one
 * that passes is returned, not yet stored. Scoring is in `score-draft.ts`; what the steps share, in
 * `approval-session.ts`.
 */
import {
  buildCoachingContext,
  MAX_JOURNAL_ENTRIES,
  type PastMessage,
  renderGenerationPrompt,
} from "@/core/coaching-context";
import type { GeneratedMessage } from "@/core/coaching-message";
import { describeError } from "@/core/errors";
import { ownKeyLookupNeeded } from "@/core/own-key-lookup";
import { decideRiskRule, highestRisk } from "@/core/risk";
import { checkNovelty, NOVELTY_WINDOW } from "@/core/similarity";
import type { CoachModel, LlmCallRecord, PromptChoice } from "../model-ports";
import { logAction, logPhase } from "../processing-log";
import type { ProcessorStore } from "../processor-store-ports";
import { entriesAfterFromNewest, refreshInsights } from "../refresh-insights";
import { createRunQuota } from "../state-quota";
import { type ApprovalSession, draftFields, followUpCall, rejectAttempt } from "./approval-session";
import { sanitiseGenerated } from "./attempt-record";
import { type Approval, admissionStop, callFailureOutcome } from "./call-outcome";
import { type ClaimedSlot, type ProcessorDeps, step } from "./run";
import { scoreAndGate } from "./score-draft";

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
  const [entries, recentMessages, storedInsights, prompt] = await Promise.all([
    store.listJournalEntries({ uid: user.uid, limit: MAX_JOURNAL_ENTRIES }),
    // Read whether or not the user has a processing state: messages can exist without one.
    store.listRecentMessages({ uid: user.uid, limit: NOVELTY_WINDOW }),
    insightsOf(deps, claim),
    // The user's prompt variant: the stopped variants come from a per-process cache, ~0 reads a run.
    deps.choosePrompt({ uid: user.uid, now }),
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
    // Checked against the usage on the state read at the claim; recorded with the run's end.
    quota: createRunQuota({ state: claim.state, pending: claim.log }),
  });
  if (run.ownKeyStored !== undefined) claim.log.ownKeyCheck = { at: now, stored: run.ownKeyStored };
  try {
    return await generateWithModel(deps, claim, now, probe, {
      model: run.model,
      entries,
      recentMessages,
      storedInsights,
      refreshFirst,
      prompt,
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

/**
 * The user's insights, as the state read at the claim holds them. A state without them (one from
 * before insights were kept there, or none yet) has them read where the insights store keeps them,
 * and stored on the state with the run's end, so the next run needs no read.
 */
async function insightsOf(deps: ProcessorDeps, claim: ClaimedSlot) {
  if (claim.state?.insights !== undefined) return claim.state.insights;
  const insights = await deps.store.getInsights(claim.user.uid);
  claim.log.insights ??= insights;
  return insights;
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
    prompt,
  }: {
    model: CoachModel;
    prompt: PromptChoice;
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
      // Stored with the run's end, on the processing state (core/processing-state.ts `insights`).
      store: {
        ...store,
        saveInsights: async (refreshedInsights) => {
          claim.log.insights = refreshedInsights;
        },
      },
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
  const session: ApprovalSession = {
    deps,
    claim,
    now,
    base: { context, slot, now, calls, model, prompt },
    attempt: 0,
    probe,
  };
  const candidate = await writeNovelDraft(session, recentMessages);
  if ("ok" in candidate) return candidate;
  return scoreAndGate(session, candidate, recentMessages);
}

/**
 * Generates a draft far enough from the recent messages, regenerating once when the first is too
 * close or breaks the risk rule (core/risk.ts `decideRiskRule`; that first draft is stored as
 * rejected). Returns the draft, or how the approval ended.
 */
async function writeNovelDraft(
  session: ApprovalSession,
  recentMessages: readonly PastMessage[],
): Promise<GeneratedMessage | Approval> {
  const { deps, claim, now, base } = session;
  let rejectedDraft: { draft: string; reason: string } | undefined;
  for (;;) {
    session.attempt += 1;
    logPhase(claim.log, "generating");
    const generation = await base.model.generateMessage({
      system: base.prompt.messageGeneration.text,
      prompt: renderGenerationPrompt(base.context, rejectedDraft),
      purpose: rejectedDraft ? "regeneration" : "generation",
    });
    const generationStop = await followUpCall(session, generation);
    if (generationStop) return generationStop;
    if (!generation.ok)
      return rejectAttempt(
        session,
        callFailureOutcome(generation),
        `generation failed: ${generation.reason}`,
      );
    claim.log.draftsGenerated += 1;
    if (session.attempt === 1) await step(deps, "generated", claim, now);
    let draft = withRunRisk(claim, sanitiseGenerated(generation.output));
    if (draft.messageContent.length < 20) {
      return rejectAttempt(
        session,
        "generation_failed",
        "the message was empty once links and markup were removed",
        draftFields(draft),
      );
    }
    // Enforced here, whatever the model chose: no challenge or reminder under an elevated or acute risk.
    const riskRule = decideRiskRule({
      messageType: draft.messageType,
      riskLevel: draft.riskLevel,
      canRegenerate: rejectedDraft === undefined,
    });
    if (riskRule.kind === "refuse") {
      return rejectAttempt(session, "gate_failed", riskRule.reason, draftFields(draft));
    }
    if (riskRule.kind === "relabel") {
      logAction(claim.log, {
        timestamp: now,
        action: "risk_type_relabelled",
        details: `${draft.messageType} → ${riskRule.messageType}`,
      });
      draft = { ...draft, messageType: riskRule.messageType };
    }
    const novelty = checkNovelty({ candidate: draft, recent: recentMessages });
    if (novelty.novel && riskRule.kind !== "regenerate") return draft;
    // The second draft is never regenerated for the risk rule (it is relabelled): only novelty ends here.
    if (rejectedDraft && !novelty.novel) {
      return rejectAttempt(
        session,
        "gate_failed",
        `still too close to a recent message after regenerating: ${novelty.reason}`,
        draftFields(draft),
      );
    }
    // One regeneration a run, for the risk rule or for novelty (MAX_LLM_CALLS_PER_RUN holds).
    const reason = riskRule.kind === "regenerate" ? riskRule.reason : novelty.novel ? "" : novelty.reason;
    await rejectAttempt(
      session,
      "gate_failed",
      riskRule.kind === "regenerate" ? reason : `too close to a recent message: ${reason}`,
      draftFields(draft),
    );
    rejectedDraft = { draft: draft.messageContent, reason };
  }
}

/**
 * The draft under the run's risk so far: the highest level its drafts assessed, with that draft's
 * reason (a regeneration that reads the entries more calmly never lowers it), kept on the run's log
 * for the operator's flag at its end.
 */
function withRunRisk(claim: ClaimedSlot, draft: GeneratedMessage): GeneratedMessage {
  const runLevel = highestRisk([claim.log.riskLevel ?? "none", draft.riskLevel]);
  const keepsEarlier = runLevel !== draft.riskLevel;
  if (!keepsEarlier) {
    claim.log.riskLevel = runLevel;
    claim.log.riskReason = draft.riskReason;
    return draft;
  }
  return { ...draft, riskLevel: runLevel, riskReason: claim.log.riskReason ?? "" };
}
