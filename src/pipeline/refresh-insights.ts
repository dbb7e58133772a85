/**
 * Brings a user's journal insights up to date: entries written since the last analysis, oldest
 * first, at most `INSIGHT_BATCH_SIZE` per LLM call and `maxBatches` reads (so at most as many
 * calls) per run. The cursor (`analysedThrough`) moves past the coaching entries a read skipped.
 */

import type { JournalEntry } from "@/core/coaching-context";
import {
  advanceInsightsCursor,
  INSIGHT_BATCH_SIZE,
  mergeInsights,
  renderInsightsPrompt,
  type UserInsights,
} from "@/core/insights";
import type { EntriesAfter } from "@/core/journal-scan";
import type { CoachModel, LlmCallRecord, Prompts } from "./model-ports";
import type { InsightsStore } from "./processor-store-ports";

export type InsightsRefresh =
  | {
      /** `out_of_time`: `canStartCall` said no before the entries were all analysed. */
      status: "up_to_date" | "refreshed" | "out_of_time";
      insights: UserInsights | null;
      batches: number;
      calls: LlmCallRecord[];
    }
  | {
      /** over_quota, ceiling_reached: no call was made (a per-user quota, the global ceiling). */
      status: "failed" | "over_quota" | "ceiling_reached";
      insights: UserInsights | null;
      batches: number;
      calls: LlmCallRecord[];
      reason: string;
      retriable: boolean;
      /** When over quota or the ceiling is spent: when it frees. */
      retryAt?: number;
    };

/**
 * The entries after `cursor`, oldest first, out of the user's newest own entries already read
 * (newest first, as the context reads them), when those prove complete: the oldest of them is at
 * or before the cursor, so every own entry after the cursor is among them; and they fit one
 * batch. Otherwise null: read them from the store.
 */
export function entriesAfterFromNewest({
  newest,
  cursor,
}: {
  newest: readonly JournalEntry[];
  cursor: number;
}): EntriesAfter | null {
  const oldest = newest.at(-1);
  if (!oldest || oldest.createdAt > cursor) return null;
  const after = newest.filter((entry) => entry.createdAt > cursor).reverse();
  const last = after.at(-1);
  if (!last || after.length > INSIGHT_BATCH_SIZE) return null;
  return { entries: after, readThrough: last.createdAt };
}

export async function refreshInsights({
  store,
  model,
  prompts,
  uid,
  now,
  maxBatches,
  known,
  firstRead,
  canStartCall,
}: {
  store: InsightsStore;
  model: CoachModel;
  prompts: Pick<Prompts, "journalInsights">;
  uid: string;
  now: number;
  maxBatches: number;
  /** The insights already read by the caller, to save a read. */
  known?: UserInsights | null;
  /** The entries after the cursor, already read by the caller (`entriesAfterFromNewest`), to save a read. */
  firstRead?: EntriesAfter | null;
  /** Asked before each LLM call (is there time for one?); a no ends the run with what it has. */
  canStartCall?: () => boolean;
}): Promise<InsightsRefresh> {
  let insights = known === undefined ? await store.getInsights(uid) : known;
  const calls: LlmCallRecord[] = [];
  let batches = 0;
  // Every read counts towards `maxBatches`, analysed or not: a run's cost stays bounded, and a
  // read that found only coaching entries still moves the cursor, so the next run goes on from
  // there instead of reading the same entries forever.
  for (let reads = 0; reads < maxBatches; reads += 1) {
    const cursor = insights?.analysedThrough ?? 0;
    const { entries, readThrough } =
      reads === 0 && firstRead
        ? firstRead
        : await store.listEntriesAfter({ uid, after: cursor, limit: INSIGHT_BATCH_SIZE });
    if (entries.length === 0) {
      if (readThrough <= cursor) break;
      insights = advanceInsightsCursor({ previous: insights, uid, through: readThrough, now });
      await store.saveInsights(insights);
      continue;
    }
    if (canStartCall && !canStartCall()) return { status: "out_of_time", insights, batches, calls };
    const result = await model.analyseJournal({
      system: prompts.journalInsights.text,
      prompt: renderInsightsPrompt({ entries, previousSummary: insights?.summary || null }),
    });
    calls.push(result.call);
    if (!result.ok) {
      const retryAt = result.ceilingRetryAt ?? result.quotaRetryAt;
      return {
        status:
          result.ceilingRetryAt !== undefined
            ? "ceiling_reached"
            : result.quotaRetryAt !== undefined
              ? "over_quota"
              : "failed",
        insights,
        batches,
        calls,
        reason: result.reason,
        retriable: result.retriable,
        ...(retryAt === undefined ? {} : { retryAt }),
      };
    }
    insights = advanceInsightsCursor({
      previous: mergeInsights({ previous: insights, analysis: result.output, uid, entries, now }),
      uid,
      through: readThrough,
      now,
    });
    await store.saveInsights(insights);
    batches += 1;
  }
  return { status: batches > 0 ? "refreshed" : "up_to_date", insights, batches, calls };
}
