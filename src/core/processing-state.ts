/**
 * Each user's processing state, as the engine keeps it (one document per user): status and
 * phase, counters, and rolling logs of actions and errors. Pure helpers; the pipeline records,
 * an adapter stores.
 */

export type UserStatus = "waiting" | "running" | "suspended" | "error";
export type ProcessingPhase =
  | "idle"
  | "building_context"
  | "generating"
  | "scoring"
  | "storing"
  | "delivering"
  | "error";

export const MAX_ACTION_HISTORY = 20;
export const MAX_RECENT_ERRORS = 10;

export interface ActionEntry {
  timestamp: number;
  action: string;
  details: string | null;
  messageId: string | null;
  success: boolean;
  metadata: Record<string, string | number | boolean | null>;
}

export interface ErrorEntry {
  timestamp: number;
  phase: ProcessingPhase;
  messageId: string | null;
  errorMessage: string;
  errorType: string;
}

export interface ProcessingStats {
  messagesGenerated: number;
  messagesSent: number;
  gateSkipped: number;
  errors: number;
  duplicatesSkipped: number;
  lastProcessingAt: number | null;
  lastSentAt: number | null;
}

export interface ProcessingState {
  uid: string;
  status: UserStatus;
  phase: ProcessingPhase;
  isProcessing: boolean;
  currentSlotId: string | null;
  /** Phases the last (or current) run went through, in order. */
  lastRunPhases: ProcessingPhase[];
  consecutiveFailures: number;
  suspendUntil: number | null;
  suspendReason: string | null;
  stats: ProcessingStats;
  actionHistory: ActionEntry[];
  recentErrors: ErrorEntry[];
  createdAt: number;
  updatedAt: number;
}

export function emptyProcessingState(uid: string, now: number): ProcessingState {
  return {
    uid,
    status: "waiting",
    phase: "idle",
    isProcessing: false,
    currentSlotId: null,
    lastRunPhases: [],
    consecutiveFailures: 0,
    suspendUntil: null,
    suspendReason: null,
    stats: {
      messagesGenerated: 0,
      messagesSent: 0,
      gateSkipped: 0,
      errors: 0,
      duplicatesSkipped: 0,
      lastProcessingAt: null,
      lastSentAt: null,
    },
    actionHistory: [],
    recentErrors: [],
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * A stored state made whole: a run's first write is a partial merge, and documents written by
 * older versions may lack fields; missing ones take their empty values.
 */
export function normaliseProcessingState(
  uid: string,
  stored: Partial<ProcessingState> | undefined,
): ProcessingState {
  const empty = emptyProcessingState(uid, stored?.createdAt ?? stored?.updatedAt ?? 0);
  return { ...empty, ...stored, stats: { ...empty.stats, ...stored?.stats } };
}

/** Newest first, at most `max`: the rolling logs never grow past their cap. */
export function prependRolling<Entry>(
  list: readonly Entry[],
  entries: readonly Entry[],
  max: number,
): Entry[] {
  return [...[...entries].reverse(), ...list].slice(0, max);
}

export interface SuspensionPolicy {
  /** Consecutive failed runs that suspend a user. */
  maxConsecutiveFailures: number;
  /** How long an automatic suspension lasts. */
  suspensionMs: number;
}

/** Whether the failures so far suspend the user, and until when. */
export function decideAutoSuspension({
  consecutiveFailures,
  lastFailure,
  now,
  policy,
}: {
  consecutiveFailures: number;
  lastFailure: string;
  now: number;
  policy: SuspensionPolicy;
}): { suspend: false } | { suspend: true; suspendUntil: number; suspendReason: string } {
  if (consecutiveFailures < policy.maxConsecutiveFailures) return { suspend: false };
  return {
    suspend: true,
    suspendUntil: now + policy.suspensionMs,
    suspendReason:
      `suspended automatically after ${consecutiveFailures} consecutive failures; last: ${lastFailure}`.slice(
        0,
        500,
      ),
  };
}
