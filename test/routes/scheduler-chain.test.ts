/**
 * A cron tick's chain through the real routes (issue 12): the scheduler continues itself over
 * HTTP at APP_URL (its own URL here), the processor runs for real against the LLM sandbox, and
 * Vercel's duplicate cron delivery arrives while the chain runs.
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { LlmSandbox } from "../../scripts/local-stack/llm-sandbox";
import { eventually } from "../support/eventually";
import { putDocuments } from "../support/firestore";
import { HOUR } from "../support/processor";
import { caller, type RouteStack, startRouteStack } from "../support/stack";
import { userDocument } from "../support/users";
import { zoneInsideWindow } from "../support/zones";

const SECRET = "scheduler-chain-secret-0123456789";
const SCHEDULER = "/api/coaching/generateCoachingMessage/scheduler";
const USERS = 10;
const PER_STEP = 4;

let stack: RouteStack;
let db: Firestore;
let sandbox: LlmSandbox;

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "scheduler-chain",
    cronSecret: SECRET,
    env: {
      SCHEDULER_MAX_USERS_PER_TICK: String(PER_STEP),
      SCHEDULER_PAGE_SIZE: "2",
      LLM_TIMEOUT_MS: "5000",
      LLM_MAX_RETRIES: "0",
    },
  });
  ({ db, sandbox } = stack);
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

const call = caller(() => stack.server, { method: "GET", token: SECRET });

async function chainRuns(chainId: string) {
  // Filtered here: the local emulator does not filter on nested fields.
  const snapshot = await db.collection("schedulerRuns").get();
  return snapshot.docs.map((document) => document.data()).filter((run) => run.chain?.chainId === chainId);
}

async function countWhere(collection: string, uid: string) {
  return (await db.collection(collection).where("uid", "==", uid).count().get()).data().count;
}

it("drains a group of equal due times through continuations, and a duplicate cron delivery during the chain makes no extra LLM call", async () => {
  // Both deliveries must fall in the same UTC hour, as Vercel's duplicates do.
  const untilNextHour = HOUR - (Date.now() % HOUR);
  if (untilNextHour < 60_000) await new Promise((resolve) => setTimeout(resolve, untilNextHour + 1_000));
  const now = Date.now();
  const zone = zoneInsideWindow(now, "afternoon");
  const uids = Array.from({ length: USERS }, (_, index) => `chain-${index}`);
  // All due at the same instant, as the journaling app might write them (no rank yet).
  await putDocuments(
    db,
    "users",
    uids.map((uid) => [
      uid,
      userDocument({ timezone: zone, timePreference: "afternoon", nextCoachingMessageDue: now - HOUR }),
    ]),
  );
  sandbox.requests.length = 0;

  const first = await (await call(SCHEDULER)).json();
  expect(first).toMatchObject({
    success: true,
    results: { usersDue: PER_STEP, jobsCreated: PER_STEP, usersRanked: USERS, hasMore: true },
    chain: { step: 0, attempt: 1, duplicateOf: null, continuation: { status: "dispatched", nextStep: 1 } },
  });
  const { chainId } = first.chain;

  // Vercel delivers the same cron event again while the continuation runs.
  const duplicate = await (await call(SCHEDULER)).json();
  expect(duplicate).toMatchObject({
    success: true,
    results: { usersDue: 0, jobsCreated: 0 },
    chain: { chainId, step: 0, duplicateOf: first.runId, continuation: { status: "none" } },
  });
  // And the first continuation arrives twice (a retried request).
  const retried = await call(SCHEDULER, {
    method: "POST",
    body: { continuation: { chainId, step: 1, after: first.chain.handledUpTo } },
  });
  expect(retried.status).toBe(202);

  // One run per step did the work: 4 + 4 + 2 users; every other delivery found its step taken.
  const runs = await eventually(
    () => chainRuns(chainId),
    (found) =>
      found.some((run) => run.status === "completed" && run.chain.continuation.status === "not_needed") &&
      found.every((run) => run.status === "completed"),
    60_000,
  );
  const working = runs.filter((run) => run.chain.duplicateOf === null);
  expect(working.map((run) => run.chain.step).sort()).toEqual([0, 1, 2]);
  expect(working.map((run) => run.results.jobsCreated).sort()).toEqual([2, 4, 4]);
  expect(runs.filter((run) => run.chain.duplicateOf !== null)).toHaveLength(2);

  // Ten dispatches in all: the duplicates dispatched nobody, so no processor run, no LLM call.
  expect(runs.reduce((sum, run) => sum + run.results.jobsCreated, 0)).toBe(USERS);

  // Every user's one slot done, and no second slot.
  await eventually(
    async () => (await db.collection("coachingSlots").where("status", "==", "completed").get()).size,
    (completed) => completed >= USERS,
    60_000,
  );
  for (const uid of uids) {
    expect(await countWhere("coachingSlots", uid), uid).toBe(1);
    const due = (await db.doc(`users/${uid}`).get()).get("nextCoachingMessageDue") as number;
    expect(due, uid).toBeGreaterThan(now);
  }
  // Each generation attempt is one generation call and one scoring call, and there is no
  // other LLM call: nothing from the duplicates.
  const attempts = (await db.collection("coachingMessages").where("uid", "in", uids).get()).size;
  expect(attempts).toBeGreaterThanOrEqual(USERS);
  expect(sandbox.requests).toHaveLength(2 * attempts);
}, 150_000);
