/**
 * The per-user quota gate over the usage kept on each user's processing state
 * (core/run-usage.ts), in two forms:
 * - `createStateQuotaGate`: for callers that have not read the state (an insights event, the key
 *   routes' usage figures): a check reads it, a record is one write of increments;
 * - `createRunQuota`: for a processor run, which read the state at its claim: the check decides
 *   from that read, and the record is added to the change the run writes when it ends, so the
 *   quota costs the run no read and no write of its own. A run that is killed after its calls
 *   (or taken over) records nothing: the undercount is that run's calls.
 */

import type { ProcessingState } from "@/core/processing-state";
import {
  decideRunAdmission,
  mergeUsageChanges,
  poolUsage,
  recordRunUsage,
  type UsageChange,
} from "@/core/run-usage";
import type { QuotaGate } from "./llm-limit-ports";
import type { ProcessingStateStore } from "./processor-store-ports";

export function createStateQuotaGate(stateStore: ProcessingStateStore): QuotaGate {
  /** The usage fields each user's last check read, so the record drops the windows that are over. */
  const seenByUser = new Map<string, Record<string, number>>();
  const fieldsOf = async (uid: string) => {
    const fields = (await stateStore.getState(uid))?.usage ?? {};
    seenByUser.set(uid, fields);
    return fields;
  };
  return {
    usage: async ({ uid, now, keySource }) => poolUsage(await fieldsOf(uid), keySource, now),
    admitRun: async ({ uid, now, limits, keySource, calls }) =>
      decideRunAdmission({ usage: poolUsage(await fieldsOf(uid), keySource, now), limits, calls, now }),
    async recordRun({ uid, now, keySource, ...amounts }) {
      if (amounts.requests === 0) return;
      const usage = recordRunUsage({ seen: seenByUser.get(uid) ?? {}, pool: keySource, now, amounts });
      await stateStore.updateState({ uid, now, change: { usage } });
    },
  };
}

/** Where a processor run keeps the usage it will record with its end (pipeline/processing-log.ts). */
export interface PendingUsage {
  usage: UsageChange | null;
}

export function createRunQuota({
  state,
  pending,
}: {
  /** The state as read at the claim; null: none yet (no usage recorded). */
  state: ProcessingState | null;
  pending: PendingUsage;
}): QuotaGate {
  const seen = state?.usage ?? {};
  return {
    usage: async ({ now, keySource }) => poolUsage(seen, keySource, now),
    admitRun: async ({ now, limits, keySource, calls }) =>
      decideRunAdmission({ usage: poolUsage(seen, keySource, now), limits, calls, now }),
    async recordRun({ now, keySource, ...amounts }) {
      if (amounts.requests === 0) return;
      const usage = recordRunUsage({ seen, pool: keySource, now, amounts });
      pending.usage = pending.usage ? mergeUsageChanges(pending.usage, usage) : usage;
    },
  };
}
