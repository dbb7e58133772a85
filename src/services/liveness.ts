import "server-only";
import { getDb } from "@/adapters/firestore/client";
import { readLatestSchedulerRun } from "@/adapters/firestore/liveness-store";
import type { AppConfig } from "@/config";
import { type LivenessStatus, livenessStatus } from "@/core/liveness";
import { logger } from "@/logger";

/**
 * Each instance answers from its last read for this long: the route needs no auth, so without
 * it anyone could turn requests into Firestore reads. At most one read per instance per 30 s.
 */
const LIVENESS_CACHE_MS = 30_000;

/**
 * A read that takes longer is answered `degraded`: every request of the flood waits on the one
 * shared read, so a hung one must not hang them all (a monitor would see timeouts, not a status).
 */
const LIVENESS_READ_TIMEOUT_MS = 5_000;

let cached: { status: LivenessStatus; readAt: number } | null = null;
/**
 * The read under way, shared: requests that arrive while it is in flight (a flood at the moment
 * the cached answer expires) wait for it instead of each reading again.
 */
let inFlight: Promise<LivenessStatus> | null = null;

/**
 * The engine's liveness for `GET /api/health` (docs/api.md): `ok`, or `degraded` when the
 * scheduler is stale, its last run failed or found the LLM breaker open, or Firestore cannot be
 * read. Never throws.
 */
export async function engineLiveness(config: AppConfig, now: number): Promise<LivenessStatus> {
  if (cached && now - cached.readAt < LIVENESS_CACHE_MS && now >= cached.readAt) return cached.status;
  if (inFlight) return inFlight;
  const read = readLiveness(config, now);
  inFlight = read;
  try {
    return await read;
  } finally {
    if (inFlight === read) inFlight = null;
  }
}

async function readLiveness(config: AppConfig, now: number): Promise<LivenessStatus> {
  let status: LivenessStatus;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${LIVENESS_READ_TIMEOUT_MS} ms`)),
        LIVENESS_READ_TIMEOUT_MS,
      );
    });
    const latestRun = await Promise.race([readLatestSchedulerRun(getDb(config)), timedOut]);
    status = livenessStatus({ latestRun, now });
  } catch (error) {
    logger.warn("liveness: the latest scheduler run could not be read", { error });
    status = "degraded";
  } finally {
    clearTimeout(timer);
  }
  cached = { status, readAt: now };
  return status;
}
