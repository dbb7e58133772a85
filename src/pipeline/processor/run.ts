/**
 * A processor run's shared shapes and rules: its collaborators, the claim it holds, its outcome,
 * the fence of the next lease and the due time after an outcome. The steps are accept.ts (claim),
 * approve.ts (generate, score, gate), deliver.ts (store, journal, send) and complete.ts (complete,
 * reschedule, recover); pipeline/process-user.ts is the entry point.
 */

import { isDeferral, type SkipReason, type SlotOutcome, type SlotRecord } from "@/core/due-slot";
import type { ProcessingState } from "@/core/processing-state";
import type { SafetyResources } from "@/core/risk";
import { nextDueAfterSuccess, retryDueAt } from "@/core/schedule";
import type { SuspensionPolicy } from "@/core/suspension";
import { type CoachingUser, scheduleSettingsOf } from "@/core/user";
import type { LlmBreaker } from "../llm-limit-ports";
import type { ChoosePrompt, Prompts, ResolveRunModel } from "../model-ports";
import { logAction, type RunLog } from "../processing-log";
import type { ProcessingStateStore, ProcessorStep, ProcessorStore } from "../processor-store-ports";

/** The processor's collaborators, built in one place (services/processor.ts `wireProcessor`). */
export interface ProcessorDeps {
  store: ProcessorStore;
  prompts: Prompts;
  /** The message-generation prompt of a user's run: the control, or their variant of a running experiment. */
  choosePrompt: ChoosePrompt;
  /** How long a claim holds a slot; above the processor route's maxDuration, so a live run keeps it. */
  leaseMs: number;
  /** Called after each step completes. A throw here stops the run as a crash would. */
  onStep?: (step: ProcessorStep, slotId: string) => void | Promise<void>;
  /** Per-user processing state. */
  stateStore: ProcessingStateStore;
  suspension: SuspensionPolicy;
  /** The LLM circuit breaker. */
  breaker: LlmBreaker;
  /**
   * The model for one user's run (their own key, the per-user quotas, the global ceiling), with
   * the calls the run expects admitted before its first.
   */
  resolveModel: ResolveRunModel;
  /** Analyse new journal entries into insights before generating, when they are stale. */
  refreshInsightsBeforeGeneration: boolean;
  /** SAFETY_RESOURCES: the helpline texts by language; null: the neutral defaults (core/risk.ts). */
  safetyResources: SafetyResources | null;
  /** Problems the run carried on past (a breaker write that failed); the logger in production. */
  warn?: (message: string, context: Record<string, unknown>) => void;
}

/** One user's run as it is asked for: what `acceptUserRun` re-checks and claims, and what the claimed run then uses. */
export interface UserRunRequest {
  deps: ProcessorDeps;
  uid: string;
  now: number;
  /** Skips the due, window and suspension checks (the test route, the admin's "generate now"); never a disabled user. */
  bypassChecks?: boolean;
}

export type AcceptResult =
  | { kind: "not_found" }
  | { kind: "skipped"; reason: SkipReason; nextCoachingMessageDue?: number }
  | { kind: "busy"; slotId: string }
  | { kind: "already_completed"; slotId: string; outcome: SlotOutcome | null }
  | { kind: "claimed"; claim: ClaimedSlot };

export interface ClaimedSlot {
  slot: SlotRecord;
  user: CoachingUser;
  /**
   * This run's token, written into every lease it creates (claim, completion, release), so a
   * write whose commit applied but came back "exists" on the client's retry is known as its own.
   */
  claimToken: string;
  /** Windows the user had missed in a row when claimed (from their due rank, core/due-rank.ts). */
  missedWindows: number;
  /**
   * This run holds the slot's first lease: no run held it before, so nothing (no message) can be
   * stored under it yet, and the run does not read for one.
   */
  firstLease: boolean;
  /** The user's processing state as read at the claim (null: none yet), kept for the run's end. */
  state: ProcessingState | null;
  /** What this run did, for the user's processing state. */
  log: RunLog;
}

export interface ProcessOutcome {
  slotId: string;
  messageGenerated: boolean;
  outcome: SlotOutcome;
  messageId: string | null;
  nextCoachingMessageDue: number;
  failureReason: string | null;
  /** The outbox event that delivers the message (email, push), when one was stored. */
  deliveryEventId: string | null;
  /**
   * The run's lease expired and another run took the slot over before this one completed it:
   * nothing of this outcome was recorded (slot, reschedule, processing state); the other run's stands.
   */
  superseded: boolean;
}

/** The journal entry of a slot's message; derived, so creating it twice is a no-op. */
export function coachingJournalEntryId(slotId: string): string {
  return `coaching_${slotId}`;
}

export async function step(
  deps: ProcessorDeps,
  name: ProcessorStep,
  claim: ClaimedSlot,
  now: number,
  messageId?: string,
) {
  logAction(claim.log, { timestamp: now, action: name, messageId: messageId ?? null });
  await deps.onStep?.(name, claim.slot.slotId);
}

/**
 * Windows missed in a row after a slot's outcome: one more after a deferral (breaker open, quota,
 * provider unavailable), so the user comes first among equal due times next; none otherwise.
 */
export function missedWindowsAfter(outcome: SlotOutcome | null, missedBefore: number): number {
  return isDeferral(outcome) ? missedBefore + 1 : 0;
}

export function dueAfterOutcome(slot: SlotRecord, user: CoachingUser, now: number): number {
  if (slot.nextCoachingMessageDue !== null && slot.nextCoachingMessageDue > now)
    return slot.nextCoachingMessageDue;
  const settings = scheduleSettingsOf(user);
  return slot.outcome === "sent"
    ? nextDueAfterSuccess({ now, ...settings })
    : retryDueAt({ now, frequency: settings.frequency });
}

/**
 * The slot's next state under the run's next lease number. Writing it with `claimSlot` is the
 * fence: if another run took the slot over after this run's lease expired, it created that lease
 * number first, the batch writes nothing, and this run learns it no longer owns the slot.
 */
export function underNextLease(slot: SlotRecord, now: number, fields: Partial<SlotRecord>): SlotRecord {
  return { ...slot, ...fields, leaseNumber: slot.leaseNumber + 1, leaseUntil: now, updatedAt: now };
}
