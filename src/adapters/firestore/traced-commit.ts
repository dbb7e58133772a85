import "server-only";
import type { WriteBatch, WriteResult } from "firebase-admin/firestore";
import { inSpan } from "@/pipeline/tracing";

/**
 * Commits a batch in a `firestore.batch_commit` span named after what the batch does (the
 * operation, never a document's content), so a trace shows where a run spent its time writing.
 */
export function commitBatch(batch: WriteBatch, operation: string): Promise<WriteResult[]> {
  const fields = {
    "db.system.name": "firestore",
    "db.operation.name": "commit",
    "coaching.operation": operation,
  };
  return inSpan("firestore.batch_commit", fields, () => batch.commit());
}
