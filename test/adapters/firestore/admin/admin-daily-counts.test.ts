/**
 * The dashboard's stored daily counts (`systemState/adminDailyCounts`): a GET render writes them,
 * so a failing write, a junk document and concurrent renders must never take the page down or
 * show wrong days.
 */
import type { DocumentReference, Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFirestoreDashboardStore } from "@/adapters/firestore/admin/dashboard-store";
import { COLLECTIONS } from "@/adapters/firestore/collections";
import { type EmulatorHandle, putDocuments, startTestEmulator } from "../../../support/firestore";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// 10:00 UTC: yesterday and the days before are settled.
const NOW = Date.UTC(2026, 5, 15, 10);
const TODAY = Date.UTC(2026, 5, 15);

let handle: EmulatorHandle;

beforeAll(async () => {
  handle = await startTestEmulator();
});
afterAll(async () => {
  await handle?.stop();
});

/** `target` with one property replaced; everything else reaches the real object. */
function intercept<Target extends object>(target: Target, property: string, replacement: unknown): Target {
  return new Proxy(target, {
    get(object, name) {
      if (name === property) return replacement;
      const value = Reflect.get(object, name);
      return typeof value === "function" ? value.bind(object) : value;
    },
  });
}

/** A Firestore whose `systemState` documents refuse every `set()` (a permission or quota failure). */
function failingStateWrites(target: Firestore): Firestore {
  return intercept(target, "collection", (name: string) => {
    const collection = target.collection(name);
    if (name !== COLLECTIONS.systemState) return collection;
    return intercept(collection, "doc", (id: string) => {
      const document: DocumentReference = collection.doc(id);
      return intercept(document, "set", () =>
        Promise.reject(Object.assign(new Error("7 PERMISSION_DENIED: denied"), { code: 7 })),
      );
    });
  });
}

/** Two sent messages yesterday and one rejected attempt three days ago. */
async function seed(db: Firestore) {
  const sent = (id: string, at: number) => [
    id,
    { uid: "u1", status: "sent", wasSent: true, sentAt: at, createdAt: at },
  ];
  await putDocuments(db, "coachingMessages", [
    sent("m1", TODAY - DAY + HOUR) as [string, Record<string, unknown>],
    sent("m2", TODAY - DAY + 2 * HOUR) as [string, Record<string, unknown>],
    ["m3", { uid: "u1", status: "rejected", wasSent: false, sentAt: null, createdAt: TODAY - 3 * DAY }],
  ]);
}

const dayOf = (daily: { day: number; sent: number; gateFailures: number }[], start: number) =>
  daily.find((entry) => entry.day === start);

describe("the dashboard's stored daily counts", () => {
  it("still renders, with the days counted, when storing the counts fails", async () => {
    const { db } = handle.freshProject("daily-counts-write-fails");
    await seed(db);
    const { daily } = await createFirestoreDashboardStore(failingStateWrites(db)).dashboard({
      now: NOW,
      days: 14,
      hours: 24,
      runCount: 8,
    });
    expect(dayOf(daily, TODAY - DAY)).toEqual({ day: TODAY - DAY, sent: 2, gateFailures: 0 });
    expect(dayOf(daily, TODAY - 3 * DAY)).toEqual({ day: TODAY - 3 * DAY, sent: 0, gateFailures: 1 });
  });

  it("recounts the days of a junk stored document and replaces it", async () => {
    const { db } = handle.freshProject("daily-counts-junk");
    await seed(db);
    const stored = db.collection(COLLECTIONS.systemState).doc("adminDailyCounts");
    await stored.set({
      days: { [String(TODAY - DAY)]: { sent: -5, gateFailures: "x" }, [String(TODAY - 3 * DAY)]: "junk" },
    });
    const store = createFirestoreDashboardStore(db);
    const { daily } = await store.dashboard({ now: NOW, days: 14, hours: 24, runCount: 8 });
    expect(dayOf(daily, TODAY - DAY)).toEqual({ day: TODAY - DAY, sent: 2, gateFailures: 0 });
    expect(dayOf(daily, TODAY - 3 * DAY)).toEqual({ day: TODAY - 3 * DAY, sent: 0, gateFailures: 1 });
    expect((await stored.get()).get(`days.${TODAY - DAY}`)).toEqual({ sent: 2, gateFailures: 0 });
    await stored.set({ days: "junk" });
    const again = await store.dashboard({ now: NOW, days: 14, hours: 24, runCount: 8 });
    expect(dayOf(again.daily, TODAY - DAY)).toEqual({ day: TODAY - DAY, sent: 2, gateFailures: 0 });
  });

  it("two renders at once agree and store the same days", async () => {
    const { db } = handle.freshProject("daily-counts-concurrent");
    await seed(db);
    const store = createFirestoreDashboardStore(db);
    const renders = await Promise.all(
      [NOW, NOW + 1_000].map((now) => store.dashboard({ now, days: 14, hours: 24, runCount: 8 })),
    );
    expect(renders[0]?.daily).toEqual(renders[1]?.daily);
    const days = (await db.collection(COLLECTIONS.systemState).doc("adminDailyCounts").get()).get("days");
    expect(Object.keys(days)).toHaveLength(13);
    expect(days[String(TODAY - DAY)]).toEqual({ sent: 2, gateFailures: 0 });
  });
});
