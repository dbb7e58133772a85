/**
 * What `GET /api/health` answers, from the newest scheduler run summary alone (one document read):
 * an engine whose hourly cron stopped, whose last run failed, or whose LLM breaker was open at
 * the last tick is up but not doing its work.
 */

/** No scheduler run started for longer than this: the hourly cron has missed at least one tick. */
export const SCHEDULER_STALE_AFTER_MS = 2 * 3_600_000;

/**
 * A newest run dated further ahead than this is junk or from a wrong clock, not proof of a live
 * scheduler: being the newest, it would otherwise answer `ok` for as long as it exists.
 */
export const SCHEDULER_CLOCK_SKEW_MS = 5 * 60_000;

export type LivenessStatus = "ok" | "degraded";

/** The fields of the newest `schedulerRuns` document that liveness reads. */
export interface LatestSchedulerRun {
  startedAt: number;
  status: string;
  breakerOpen: boolean;
}

/**
 * `degraded` when no scheduler run started in the last SCHEDULER_STALE_AFTER_MS (or none ever
 * did), when the newest is dated more than SCHEDULER_CLOCK_SKEW_MS ahead, when it failed, or
 * when it found the LLM circuit breaker open; else `ok`.
 */
export function livenessStatus({
  latestRun,
  now,
}: {
  latestRun: LatestSchedulerRun | null;
  now: number;
}): LivenessStatus {
  if (!latestRun) return "degraded";
  if (now - latestRun.startedAt > SCHEDULER_STALE_AFTER_MS) return "degraded";
  if (latestRun.startedAt - now > SCHEDULER_CLOCK_SKEW_MS) return "degraded";
  if (latestRun.status === "failed" || latestRun.breakerOpen) return "degraded";
  return "ok";
}
