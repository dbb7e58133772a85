import "server-only";
import type { DocumentData, Firestore } from "firebase-admin/firestore";
import { suppressionIdFor } from "@/core/email-address";
import type { Suppression, SuppressionList } from "@/pipeline/delivery-ports";
import { COLLECTIONS } from "./collections";
import { firestoreCall } from "./errors";

function suppressionFrom(id: string, document: DocumentData): Suppression {
  return {
    id,
    address: String(document.address ?? ""),
    reason: document.reason === "complaint" ? "complaint" : "bounce",
    suppressedAt: typeof document.suppressedAt === "number" ? document.suppressedAt : 0,
    detail: typeof document.detail === "string" ? document.detail : null,
    emailId: typeof document.emailId === "string" ? document.emailId : null,
    uid: typeof document.uid === "string" ? document.uid : null,
  };
}

/** The suppression list the outbox consults: one read by the address's hash. */
export function createFirestoreSuppressionList(db: Firestore): SuppressionList {
  const suppressions = db.collection(COLLECTIONS.emailSuppressions);
  return {
    find: (address) =>
      firestoreCall("read suppression", async () => {
        const id = suppressionIdFor(address);
        const snapshot = await suppressions.doc(id).get();
        const document = snapshot.data();
        return document ? suppressionFrom(id, document) : null;
      }),
  };
}

/** The latest suppressions first, for the admin page. */
export function listSuppressions(db: Firestore, { limit }: { limit: number }): Promise<Suppression[]> {
  return firestoreCall("list suppressions", async () => {
    const page = await db
      .collection(COLLECTIONS.emailSuppressions)
      .orderBy("suppressedAt", "desc")
      .limit(limit)
      .get();
    return page.docs.map((document) => suppressionFrom(document.id, document.data()));
  });
}

/** Lifts a suppression: the address may be emailed again. False when there was none. */
export function liftSuppression(db: Firestore, id: string): Promise<boolean> {
  return firestoreCall("lift suppression", async () => {
    const reference = db.collection(COLLECTIONS.emailSuppressions).doc(id);
    if (!(await reference.get()).exists) return false;
    await reference.delete();
    return true;
  });
}
