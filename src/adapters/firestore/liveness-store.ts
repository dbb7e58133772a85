import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import { z } from "zod";
import type { LatestSchedulerRun } from "@/core/liveness";
import { COLLECTIONS } from "./collections";
import { firestoreCall } from "./errors";

const latestRunSchema = z.object({
  startedAt: z.number().catch(0),
  status: z.string().catch("unknown"),
  results: z.object({ breakerOpen: z.boolean().catch(false) }).catch({ breakerOpen: false }),
});

/**
 * The newest scheduler run summary's start, status and breaker flag: one document read (the
 * single-field index on `startedAt`), and only those fields of it (a summary holds up to 500
 * per-user results).
 */
export function readLatestSchedulerRun(db: Firestore): Promise<LatestSchedulerRun | null> {
  return firestoreCall("read latest scheduler run", async () => {
    const snapshot = await db
      .collection(COLLECTIONS.schedulerRuns)
      .orderBy("startedAt", "desc")
      .limit(1)
      .select("startedAt", "status", "results.breakerOpen")
      .get();
    const newest = snapshot.docs[0];
    if (!newest) return null;
    const run = latestRunSchema.parse(newest.data());
    return { startedAt: run.startedAt, status: run.status, breakerOpen: run.results.breakerOpen };
  });
}
