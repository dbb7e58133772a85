/**
 * The processor route claims the slot and answers 202 before generation ends: the model call runs
 * after the response (`after()`), so the scheduler's fan-out never waits for the LLM. Proved with
 * a sandbox that holds its answer for seconds: the response arrives while the model has not yet
 * answered, with the user shown as `running`, and the message lands afterwards.
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LlmSandbox } from "../../scripts/local-stack/llm-sandbox";
import { eventually } from "../support/eventually";
import type { NextServer } from "../support/next-server";
import { seedDueUser } from "../support/processor";
import { caller, type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "processor-background-secret-0123456789";
const PROCESSOR = "/api/coaching/generateCoachingMessage/processor";
/** How long the sandbox holds its first answer: far longer than claiming a slot takes. */
const MODEL_HOLD_MS = 6_000;

let stack: RouteStack;
let db: Firestore;
let sandbox: LlmSandbox;
let server: NextServer;

beforeAll(async () => {
  stack = await startRouteStack({
    prefix: "processor-background",
    cronSecret: SECRET,
    env: { LLM_TIMEOUT_MS: "20000", LLM_MAX_RETRIES: "0" },
  });
  ({ db, sandbox, server } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

const call = caller(() => server, { method: "POST", token: SECRET });

const messagesOf = async (uid: string) =>
  (await db.collection("coachingMessages").where("uid", "==", uid).get()).docs.map((document) =>
    document.data(),
  );

describe("processor route: the response does not wait for generation", () => {
  it("answers 202 while the model has not answered, shows the user running, and stores the message afterwards", async () => {
    const uid = "slow-model";
    await seedDueUser(db, { uid, now: Date.now() });
    sandbox.queueFaults([{ kind: "delay", delayMs: MODEL_HOLD_MS }]);
    const requestsBefore = sandbox.requests.length;
    const startedAt = Date.now();

    const response = await call(PROCESSOR, { body: { userId: uid } });
    const answeredAfterMs = Date.now() - startedAt;

    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ success: true, userId: uid, accepted: true });
    expect(answeredAfterMs).toBeLessThan(MODEL_HOLD_MS);
    // Generation is under way and unfinished: the model was (or is about to be) asked, nothing is stored.
    expect(await messagesOf(uid)).toEqual([]);
    const detail = await (await call(`/api/admin/users/${uid}`, { method: "GET" })).json();
    expect(detail).toMatchObject({ success: true, state: { status: "running", isProcessing: true } });

    await eventually(
      () => messagesOf(uid),
      (messages) => messages.some((message) => message.wasSent === true),
      MODEL_HOLD_MS + 20_000,
    );
    // The held call was this run's first model call, received after the request was sent: its
    // answer left the sandbox at least MODEL_HOLD_MS after `startedAt`, after the route's 202.
    expect(sandbox.requests.length).toBeGreaterThan(requestsBefore);
    expect(sandbox.requests[requestsBefore]?.receivedAt).toBeGreaterThanOrEqual(startedAt);
    const after = await (await call(`/api/admin/users/${uid}`, { method: "GET" })).json();
    expect(after).toMatchObject({ state: { status: "waiting", isProcessing: false } });
  });
});
