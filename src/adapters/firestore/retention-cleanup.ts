import "server-only";
import type { Firestore, Query } from "firebase-admin/firestore";
import { RETENTION_RULES, type RetentionRule, retentionCutoff } from "@/core/retention";
import { deleteMatching } from "./batched-delete";
import { firestoreCall } from "./errors";

export interface CleanupReport {
  cutoff: number;
  deleted: Record<string, number>;
  total: number;
  hasMore: boolean;
}

/**
 * Deletes what the retention rules (core/retention.ts) say has expired: per rule, documents
 * whose time field is before the rule's cutoff, by an indexed range query. At most `maxDeletes`
 * per run, shared fairly: each pass gives every rule that may have more an equal share of what is
 * left, so one large collection cannot starve the others. `hasMore` says the next run has work.
 * `cutoff` is the history cutoff (`historyDays` before `now`).
 */
export function runRetentionCleanup(
  db: Firestore,
  { now, historyDays, maxDeletes }: { now: number; historyDays: number; maxDeletes: number },
): Promise<CleanupReport> {
  const expired = (rule: RetentionRule): Query => {
    let query: Query = db.collection(rule.collection);
    if (rule.where) {
      const { field, op, value } = rule.where;
      query = query.where(field, op, typeof value === "string" ? value : [...value]);
    }
    return query.where(rule.timeField, "<", retentionCutoff(rule, { now, historyDays }));
  };
  return firestoreCall("cleanup", async () => {
    const deleted: Record<string, number> = Object.fromEntries(RETENTION_RULES.map((rule) => [rule.name, 0]));
    let total = 0;
    let mayHaveMore = [...RETENTION_RULES];
    while (mayHaveMore.length > 0 && total < maxDeletes) {
      const share = Math.max(1, Math.floor((maxDeletes - total) / mayHaveMore.length));
      const next: RetentionRule[] = [];
      for (const rule of mayHaveMore) {
        const budget = Math.min(share, maxDeletes - total);
        if (budget <= 0) {
          next.push(rule);
          continue;
        }
        const count = await deleteMatching(db, expired(rule), budget);
        deleted[rule.name] = (deleted[rule.name] ?? 0) + count;
        total += count;
        if (count === budget) next.push(rule);
      }
      mayHaveMore = next;
    }
    const cutoff = now - historyDays * 24 * 3_600_000;
    return { cutoff, deleted, total, hasMore: mayHaveMore.length > 0 };
  });
}
