import "server-only";
import { type App, applicationDefault, cert, getApps, initializeApp } from "firebase-admin/app";
import { type Firestore, getFirestore } from "firebase-admin/firestore";
import type { AppConfig } from "@/config";

// Shared through globalThis: Next.js bundles routes, pages and actions separately, so this module
// can load more than once in one process while firebase-admin (external) is loaded once, and
// Firestore refuses a second settings() call.
const registry = globalThis as typeof globalThis & { __coachingEngineConfiguredDbs?: WeakSet<Firestore> };
registry.__coachingEngineConfiguredDbs ??= new WeakSet<Firestore>();
const configured = registry.__coachingEngineConfiguredDbs;

export function appFor(config: AppConfig): App {
  const { projectId, emulatorHost, serviceAccount } = config.firestore;
  // One app per project, so tests and tools that talk to several projects in one process stay apart.
  const name = `coaching-engine:${projectId || "default"}`;
  const existing = getApps().find((app) => app.name === name);
  if (existing) return existing;
  const credential = emulatorHost
    ? undefined
    : serviceAccount
      ? cert({
          projectId: serviceAccount.project_id,
          clientEmail: serviceAccount.client_email,
          privateKey: serviceAccount.private_key,
        })
      : applicationDefault();
  return initializeApp({ ...(projectId ? { projectId } : {}), ...(credential ? { credential } : {}) }, name);
}

/**
 * The Firestore handle for this configuration. firebase-admin talks to the emulator by itself
 * when `FIRESTORE_EMULATOR_HOST` is set; nothing here branches on it beyond skipping credentials.
 */
export function getDb(config: AppConfig): Firestore {
  const db = getFirestore(appFor(config));
  if (!configured.has(db)) {
    db.settings({ ignoreUndefinedProperties: true });
    configured.add(db);
  }
  return db;
}
