import "server-only";
import { getDb } from "@/adapters/firestore/client";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import { createFirestoreSchedulerStore } from "@/adapters/firestore/scheduler-store";
import type { AppConfig } from "@/config";
import { decideProcessing, dueSlotId } from "@/core/due-slot";
import { AppError } from "@/core/errors";
import { isInsideWindow, localDateTime } from "@/core/schedule";
import { decideDueUser } from "@/core/scheduler-decisions";
import { acceptUserRun, type ProcessorDeps } from "@/pipeline/process-user";
import { runSlotSafely } from "./processor";

const LIST_LIMIT = 100;

/** The users a scheduler tick would look at now (oldest due first, at most 100) and what it would do with each. */
export async function listEligibleUsers({ config, now }: { config: AppConfig; now: number }) {
  const db = getDb(config);
  const store = createFirestoreSchedulerStore(db);
  // The ranked due query leaves out users whose due time has no rank yet (written by the app);
  // a tick ranks them at its first step, so they are listed too, read one by one.
  const [ranked, scan] = await Promise.all([
    store.getDueUsers({ now, limit: LIST_LIMIT }),
    store.scanUnrankedDueUsers({ now, after: null, limit: LIST_LIMIT }),
  ]);
  const processorStore = createFirestoreProcessorStore(db);
  const unranked = await Promise.all(scan.unranked.map(({ uid }) => processorStore.getUser(uid)));
  const due = [...ranked, ...unranked.filter((snapshot) => snapshot !== null)]
    .sort((first, second) => (first.nextCoachingMessageDue ?? 0) - (second.nextCoachingMessageDue ?? 0))
    .slice(0, LIST_LIMIT);
  const users = due.map((snapshot) => {
    const decision = decideDueUser({ snapshot, now, recheckAfterMs: config.scheduler.disabledRecheckMs });
    return {
      userId: snapshot.uid,
      nextCoachingMessageDue: snapshot.nextCoachingMessageDue,
      action: decision.action,
      ...(decision.action === "reschedule" ? { reason: decision.reason } : {}),
    };
  });
  return {
    now,
    eligible: users.filter((user) => user.action === "dispatch").map((user) => user.userId),
    users,
    truncated: due.length === LIST_LIMIT,
  };
}

/** One user's schedule as the processor sees it. */
export async function userStatus({ config, uid, now }: { config: AppConfig; uid: string; now: number }) {
  const store = createFirestoreProcessorStore(getDb(config));
  const snapshot = await store.getUser(uid);
  if (!snapshot) throw new AppError("not_found:user", `user ${uid} not found`);
  const decision = decideProcessing({ snapshot, now });
  const due = snapshot.nextCoachingMessageDue;
  const slot = typeof due === "number" ? await store.getSlot(dueSlotId({ uid, dueAt: due })) : null;
  const recent = await store.listRecentMessages({ uid, limit: 5 });
  return {
    userId: uid,
    valid: snapshot.valid,
    ...(snapshot.valid
      ? {
          timezone: snapshot.user.timezone,
          coachingConfig: snapshot.user.coachingConfig,
          localDateTime: localDateTime({ at: now, timezone: snapshot.user.timezone }),
          insideWindow: isInsideWindow({
            at: now,
            timezone: snapshot.user.timezone,
            timePreference: snapshot.user.coachingConfig.timePreference,
          }),
          suspendUntil: snapshot.user.suspendUntil ?? null,
        }
      : { problem: snapshot.problem }),
    nextCoachingMessageDue: due ?? null,
    wouldProcess: decision.action === "process",
    ...(decision.action === "skip" ? { skipReason: decision.reason } : {}),
    currentSlot: slot
      ? { slotId: slot.slotId, status: slot.status, outcome: slot.outcome, leaseUntil: slot.leaseUntil }
      : null,
    recentMessages: recent.map((message) => ({
      messageType: message.messageType,
      createdAt: message.createdAt,
    })),
  };
}

/** Processes one user now, in the request; with `bypassChecks`, even when not due or outside the window. */
export async function runTestUser({
  deps,
  uid,
  now,
  bypassChecks,
  deliver,
}: {
  deps: ProcessorDeps;
  uid: string;
  now: number;
  bypassChecks: boolean;
  deliver?: (eventId: string) => Promise<unknown>;
}) {
  const accepted = await acceptUserRun({ deps, uid, now, bypassChecks });
  switch (accepted.kind) {
    case "not_found":
      throw new AppError("not_found:user", `user ${uid} not found`);
    case "skipped":
      return { messageGenerated: false, reason: accepted.reason };
    case "busy":
      return { messageGenerated: false, reason: "in_progress" };
    case "already_completed":
      return { messageGenerated: false, reason: "already_processed" };
    case "claimed": {
      const outcome = await runSlotSafely({ deps, claim: accepted.claim, now, deliver });
      if ("failed" in outcome)
        return { messageGenerated: false, reason: "failed", failureReason: outcome.reason };
      return outcome;
    }
  }
}
