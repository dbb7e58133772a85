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

let cached: { status: LivenessStatus; readAt: number } | null = null;

/**
 * The engine's liveness for `GET /api/health` (docs/api.md): `ok`, or `degraded` when the
 * scheduler is stale, its last run failed or found the LLM breaker open, or Firestore cannot be
 * read. Never throws.
 */
export async function engineLiveness(config: AppConfig, now: number): Promise<LivenessStatus> {
  if (cached && now - cached.readAt < LIVENESS_CACHE_MS && now >= cached.readAt) return cached.status;
  let status: LivenessStatus;
  try {
    status = livenessStatus({ latestRun: await readLatestSchedulerRun(getDb(config)), now });
  } catch (error) {
    logger.warn("liveness: the latest scheduler run could not be read", { error });
    status = "degraded";
  }
  cached = { status, readAt: now };
  return status;
}
