/**
 * Totals over the real scheduler's run summaries (`SchedulerRunRecord.results`), read as the
 * admin pages would read them. Numeric fields are summed by name, so fields the scheduler gains
 * later (continuations, for example) appear here without a change.
 */
import type { SchedulerRunRecord } from "@/pipeline/scheduler-run-record";

export class SchedulerRunTotals {
  ticks = 0;
  /** Runs started as a continuation of a run that ran out of cap or time budget. */
  continuations = 0;
  failedRuns = 0;
  runsWithMoreDue = 0;
  longestRunMs = 0;
  private readonly sums = new Map<string, number>();
  private readonly chainEndings = new Map<string, number>();

  add(run: SchedulerRunRecord): void {
    this.ticks += 1;
    if (run.status === "failed") this.failedRuns += 1;
    if (run.results.hasMore) this.runsWithMoreDue += 1;
    this.longestRunMs = Math.max(this.longestRunMs, run.durationMs ?? 0);
    const ending = run.chain?.continuation.status;
    if (ending) this.chainEndings.set(ending, (this.chainEndings.get(ending) ?? 0) + 1);
    for (const [name, value] of Object.entries(run.results)) {
      // A setting each run reports, not a count to add up.
      if (name === "dispatchesPerMinute") continue;
      if (typeof value === "number") this.sums.set(name, (this.sums.get(name) ?? 0) + value);
    }
  }

  summary() {
    return {
      runs: this.ticks,
      cronTicks: this.ticks - this.continuations,
      continuations: this.continuations,
      failedRuns: this.failedRuns,
      runsEndingWithMoreDue: this.runsWithMoreDue,
      longestRunMs: Math.round(this.longestRunMs),
      /** How each chain step ended: `chain_limit` leaves a backlog to the next hour. */
      continuationStatuses: Object.fromEntries(this.chainEndings),
      totals: Object.fromEntries(this.sums),
    };
  }
}
