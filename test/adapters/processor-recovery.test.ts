import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { SlotRecord } from "@/core/due-slot";
import { acceptUserRun } from "@/pipeline/process-user";
import type { ProcessorStore } from "@/pipeline/processor-ports";
import { runSlotSafely } from "@/services/processor";
import type { LlmSandbox } from "../../scripts/local-stack/llm-sandbox";
import type { EmulatorHandle } from "../support/firestore";
import { HOUR, realProcessorDeps, seedDueUser } from "../support/processor";
import { type LocalServices, startLocalServices } from "../support/stack";

let services: LocalServices;
let handle: EmulatorHandle;
let sandbox: LlmSandbox;
let db: Firestore;

beforeAll(async () => {
  services = await startLocalServices();
  ({ handle, sandbox } = services);
});

afterAll(async () => {
  await services?.stop();
});

beforeEach(() => {
  ({ db } = handle.freshProject("recovery"));
});

const NOW = Date.now();

/** The real store with one operation failing, as Firestore does when it is unavailable. */
function failing(store: ProcessorStore, operation: keyof ProcessorStore, fired: string[]): ProcessorStore {
  return {
    ...store,
    [operation]: async () => {
      fired.push(operation);
      throw new Error(`Firestore ${operation} failed: 14 UNAVAILABLE`);
    },
  };
}

async function slotOf(uid: string): Promise<SlotRecord> {
  const snapshot = await db.collection("coachingSlots").where("uid", "==", uid).get();
  return snapshot.docs[0]?.data() as SlotRecord;
}

describe("a run that throws", () => {
  it("before a message was approved: the slot fails, the user gets the retry interval and an error entry", async () => {
    await seedDueUser(db, { uid: "unlucky", now: NOW, frequency: "daily" });
    const fired: string[] = [];
    const base = realProcessorDeps({ db, sandbox });
    const deps = { ...base, store: failing(base.store, "listJournalEntries", fired) };
    const accepted = await acceptUserRun({ deps, uid: "unlucky", now: NOW });
    if (accepted.kind !== "claimed") throw new Error(`not claimed: ${accepted.kind}`);
    const outcome = await runSlotSafely({ deps, claim: accepted.claim, now: NOW });
    expect(fired).toEqual(["listJournalEntries"]);
    expect(outcome).toMatchObject({ outcome: "generation_failed", messageGenerated: false });
    expect((await db.doc("users/unlucky").get()).get("nextCoachingMessageDue")).toBeGreaterThan(
      NOW + 2 * HOUR - 60_000,
    );
    expect(await slotOf("unlucky")).toMatchObject({ status: "completed", outcome: "generation_failed" });
    const state = (await db.doc("userProcessingState/unlucky").get()).data();
    expect(state?.recentErrors?.[0]).toMatchObject({
      errorType: "error",
      errorMessage: expect.stringContaining("UNAVAILABLE"),
    });
  });

  it("after the message was approved: the lease is released, the user stays due, and the next run delivers that message", async () => {
    await seedDueUser(db, { uid: "halfway", now: NOW });
    const fired: string[] = [];
    const base = realProcessorDeps({ db, sandbox });
    const deps = { ...base, store: failing(base.store, "createJournalEntry", fired) };
    const accepted = await acceptUserRun({ deps, uid: "halfway", now: NOW });
    if (accepted.kind !== "claimed") throw new Error(`not claimed: ${accepted.kind}`);
    const outcome = await runSlotSafely({ deps, claim: accepted.claim, now: NOW });
    expect(fired).toEqual(["createJournalEntry"]);
    expect(outcome).toMatchObject({ failed: true });
    const slot = await slotOf("halfway");
    expect(slot.status).toBe("running");
    expect(slot.leaseUntil).toBeLessThanOrEqual(Date.now());
    expect((await db.doc("users/halfway").get()).get("nextCoachingMessageDue")).toBe(NOW - HOUR);
    const approved = (await db.doc(`coachingMessages/${slot.slotId}`).get()).data();
    expect(approved).toMatchObject({ status: "approved", wasSent: false });

    const later = Date.now() + 1_000;
    const retry = await acceptUserRun({ deps: base, uid: "halfway", now: later });
    if (retry.kind !== "claimed") throw new Error(`not claimed again: ${retry.kind}`);
    const done = await runSlotSafely({ deps: base, claim: retry.claim, now: later });
    expect(done).toMatchObject({ outcome: "sent", messageId: slot.slotId });
    const messages = await db.collection("coachingMessages").where("uid", "==", "halfway").get();
    expect(messages.docs.filter((document) => document.get("wasSent") === true)).toHaveLength(1);
    expect(messages.docs.find((document) => document.get("wasSent"))?.get("messageContent")).toBe(
      approved?.messageContent,
    );
  });
});
