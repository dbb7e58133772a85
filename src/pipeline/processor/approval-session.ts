/**
 * What the steps of one approval share, passed explicitly: the run, the attempt record's common
 * fields (the LLM calls made so far among them) and the attempt number; and the two things every
 * step does: follow up an LLM call, and store an attempt that does not pass.
 */
import type { GeneratedMessage } from "@/core/coaching-message";
import { describeError } from "@/core/errors";
import type { LlmResult } from "../model-ports";
import { logAction } from "../processing-log";
import type { StoredMessage } from "../processor-store-ports";
import { type AttemptBase, messageRecord } from "./attempt-record";
import { type Approval, admissionStop, type CallFailureOutcome } from "./call-outcome";
import type { ClaimedSlot, ProcessorDeps } from "./run";

export interface ApprovalSession {
  deps: ProcessorDeps;
  claim: ClaimedSlot;
  now: number;
  /** The fields every stored attempt shares; its `calls` grows with each LLM call. */
  base: AttemptBase;
  /** The attempt being made, from 1 (a regeneration is the second); stored attempts are named by it. */
  attempt: number;
  /** Whether the run holds the breaker's probe and has not reported a call's result yet. */
  probe: { unreported: boolean };
}

/**
 * What follows every LLM call, the same for each: recorded on the attempt, a stop when it was
 * not made (a quota, the ceiling), and the breaker told how the engine's key answered.
 */
export async function followUpCall(
  session: ApprovalSession,
  result: LlmResult<unknown>,
): Promise<Approval | null> {
  session.base.calls.push(result.call);
  const stop = admissionStop(session.claim.user.uid, result, result.ok ? "" : result.reason);
  if (stop) return stop;
  await reportCall(session, result);
  return null;
}

/**
 * Best-effort: the breaker is one shared document, and a write to it that fails (contention,
 * an outage) must never turn a generated draft into a failed slot. A probe whose result could
 * not be stored stays unreported, so it is released when the run ends and the next run probes.
 * Only calls on the engine's default key are reported: the breaker guards that key, and one
 * user's own key (rate-limited, slow) must neither open it for everyone nor close it.
 */
async function reportCall({ deps, claim, now, probe }: ApprovalSession, result: LlmResult<unknown>) {
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
      slotId: claim.slot.slotId,
      error: describeError(error),
    });
  }
}

/** The fields of a draft that a stored attempt carries, its risk assessment among them (for operators). */
export function draftFields(draft: GeneratedMessage) {
  return {
    messageContent: draft.messageContent,
    messageType: draft.messageType,
    pushNotificationText: draft.pushNotificationText,
    riskLevel: draft.riskLevel,
    riskReason: draft.riskReason || null,
  };
}

/** Stores the current attempt, which does not pass, as its own `coachingMessages` document. */
export async function rejectAttempt(
  { deps, claim, base, attempt }: ApprovalSession,
  outcome: "gate_failed" | CallFailureOutcome,
  reason: string,
  fields: Partial<StoredMessage> = {},
): Promise<Approval> {
  await deps.store.saveMessage(
    messageRecord(deps, base, {
      id: `${claim.slot.slotId}_${claim.slot.leaseNumber}_${attempt}`,
      status: outcome === "gate_failed" ? "rejected" : "failed",
      generationAttempt: attempt,
      failureReason: reason,
      ...fields,
    }),
  );
  return { ok: false, outcome, reason };
}
