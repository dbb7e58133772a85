/**
 * An emulator per test file, in the test's own process, and firebase-admin handles to it, one
 * project per test so that tests never see each other's documents.
 */
import { randomUUID } from "node:crypto";
import { deleteApp, getApps, initializeApp } from "firebase-admin/app";
import { type Firestore, getFirestore } from "firebase-admin/firestore";
import { type RunningEmulator, startFirestoreEmulator } from "../../scripts/local-stack/firestore-emulator";

// google-auth-library probes the GCE metadata server when it looks for credentials; there is none here.
process.env.METADATA_SERVER_DETECTION = "none";

export interface EmulatorHandle {
  emulator: RunningEmulator;
  /** A Firestore handle on a brand-new project. */
  freshProject(prefix?: string): { projectId: string; db: Firestore };
  dbFor(projectId: string): Firestore;
  stop(): Promise<void>;
}

export async function startTestEmulator(): Promise<EmulatorHandle> {
  const emulator = await startFirestoreEmulator();
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  const dbFor = (projectId: string) => {
    const app =
      getApps().find((candidate) => candidate.name === `test:${projectId}`) ??
      initializeApp({ projectId }, `test:${projectId}`);
    const db = getFirestore(app);
    return db;
  };
  return {
    emulator,
    dbFor,
    freshProject(prefix = "test") {
      const projectId = `${prefix}-${randomUUID().slice(0, 8)}`;
      const db = dbFor(projectId);
      db.settings({ ignoreUndefinedProperties: true });
      return { projectId, db };
    },
    async stop() {
      await Promise.all(getApps().map((app) => deleteApp(app)));
      await emulator.stop();
    },
  };
}

/** Writes documents in batches of 500. */
export async function putDocuments(
  db: Firestore,
  collection: string,
  documents: Iterable<[string, Record<string, unknown>]>,
): Promise<void> {
  let batch = db.batch();
  let size = 0;
  for (const [id, document] of documents) {
    batch.set(db.collection(collection).doc(id), document);
    size += 1;
    if (size === 500) {
      await batch.commit();
      batch = db.batch();
      size = 0;
    }
  }
  if (size > 0) await batch.commit();
}

/** Deletes every document of a top-level collection (the emulator has no recursiveDelete). */
export async function clearCollection(db: Firestore, collection: string): Promise<void> {
  for (;;) {
    const page = await db.collection(collection).limit(500).get();
    if (page.empty) return;
    const batch = db.batch();
    for (const document of page.docs) batch.delete(document.ref);
    await batch.commit();
  }
}
