/**
 * Brings a user's journal insights up to date: entries written since the last analysis, oldest
 * first, at most `INSIGHT_BATCH_SIZE` per LLM call and `maxBatches` reads (so at most as many
 * calls) per run. The cursor (`analysedThrough`) moves past the coaching entries a read skipped.
 */
import {
  advanceInsightsCursor,
  INSIGHT_BATCH_SIZE,
  mergeInsights,
  renderInsightsPrompt,
  type UserInsights,
} from "@/core/insights";
import type { CoachModel, InsightsStore, LlmCallRecord, Prompts } from "./processor-ports";

export type InsightsRefresh =
  | {
      /** `out_of_time`: `canStartCall` said no before the entries were all analysed. */
      status: "up_to_date" | "refreshed" | "out_of_time";
      insights: UserInsights | null;
      batches: number;
      calls: LlmCallRecord[];
    }
  | {
      status: "failed" | "over_quota";
      insights: UserInsights | null;
      batches: number;
      calls: LlmCallRecord[];
      reason: string;
      retriable: boolean;
      /** When over quota: when it frees. */
      retryAt?: number;
    };

export async function refreshInsights({
  store,
  model,
  prompts,
  uid,
  now,
  maxBatches,
  known,
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
    const { entries, readThrough } = await store.listEntriesAfter({
      uid,
      after: cursor,
      limit: INSIGHT_BATCH_SIZE,
    });
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
      return {
        status: result.quotaRetryAt === undefined ? "failed" : "over_quota",
        insights,
        batches,
        calls,
        reason: result.reason,
        retriable: result.retriable,
        ...(result.quotaRetryAt === undefined ? {} : { retryAt: result.quotaRetryAt }),
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
