import "server-only";
import type { Firestore, Query } from "firebase-admin/firestore";
import { COLLECTIONS } from "../collections";
import { firestoreCall } from "../errors";
import { parseRunSummary, type RunSummary } from "./documents";

/** Scheduler run summaries for the runs page, the dashboard and `/api/admin/runs`. */
export function createFirestoreRunsStore(db: Firestore) {
  const runs = db.collection(COLLECTIONS.schedulerRuns);
  return {
    /** Scheduler runs, newest first, `limit` started before `before`. */
    listRuns: ({ before, limit }: { before?: number; limit: number }): Promise<RunSummary[]> =>
      firestoreCall("list runs", async () => {
        let query: Query = runs;
        if (before !== undefined) query = query.where("startedAt", "<", before);
        const snapshot = await query.orderBy("startedAt", "desc").limit(limit).get();
        return snapshot.docs.map((document) => parseRunSummary(document.id, document.data()));
      }),
  };
}
