/**
 * The user's feedback on a sent message, on the real Next.js server with Firebase ID tokens from
 * the Auth emulator stand-in: once per message, own messages only, nothing written on refusal.
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuthEmulator, startAuthEmulator } from "../../scripts/local-stack/auth-emulator";
import { type EmulatorHandle, putDocuments } from "../support/firestore";
import { emulatorIdToken } from "../support/id-tokens";
import type { NextServer } from "../support/next-server";
import { quietWrites } from "../support/quiet-writes";
import { type RouteStack, startRouteStack } from "../support/stack";

let stack: RouteStack;
let handle: EmulatorHandle;
let db: Firestore;
let projectId: string;
let server: NextServer;
let auth: AuthEmulator;

const message = (id: string, uid: string, status: string) => [
  id,
  { id, uid, status, messageType: "check_in", effectivenessRating: 8, messageContent: "A note." },
];

beforeAll(async () => {
  auth = await startAuthEmulator();
  stack = await startRouteStack({
    prefix: "message-feedback",
    cronSecret: "message-feedback-secret-0123456789",
    env: { FIREBASE_AUTH_EMULATOR_HOST: auth.host },
  });
  ({ handle, db, projectId, server } = stack);
  await putDocuments(db, "coachingMessages", [
    message("ada_1", "ada", "sent"),
    message("ada_2", "ada", "sent"),
    message("ada_3", "ada", "rejected"),
    message("bea_1", "bea", "sent"),
  ] as [string, Record<string, unknown>][]);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await auth?.stop();
});

function post(path: string, body: unknown, uid: string | null = "ada") {
  const headers = new Headers({ "content-type": "application/json" });
  if (uid) headers.set("authorization", `Bearer ${emulatorIdToken({ uid, projectId })}`);
  return fetch(`${server.url}${path}`, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("message feedback", () => {
  it("records helpful and a note once (201), on the feedback document and the message", async () => {
    const response = await post("/api/users/ada/messages/ada_1/feedback", {
      helpful: true,
      note: "  Just right. ",
    });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ success: true, messageId: "ada_1", helpful: true });
    expect((await db.doc("messageFeedback/ada_1").get()).data()).toMatchObject({
      uid: "ada",
      helpful: true,
      note: "Just right.",
      messageType: "check_in",
      effectivenessRating: 8,
    });
    expect((await db.doc("coachingMessages/ada_1").get()).data()).toMatchObject({
      feedbackHelpful: true,
      feedbackAt: expect.any(Number),
    });
  });

  it("accepts a message of a user whose uid is as long as Firebase allows (128 characters)", async () => {
    // A message id is `${uid}_${dueAt}`: 142 characters for such a user, longer than any uid.
    const uid = "u".repeat(128);
    const messageId = `${uid}_1764480000000`;
    await putDocuments(db, "coachingMessages", [message(messageId, uid, "sent")] as [
      string,
      Record<string, unknown>,
    ][]);
    const response = await post(`/api/users/${uid}/messages/${messageId}/feedback`, { helpful: true }, uid);
    expect(response.status).toBe(201);
    expect((await db.doc(`messageFeedback/${messageId}`).get()).get("helpful")).toBe(true);
  });

  it.each([
    ["a second answer", "/api/users/ada/messages/ada_1/feedback", { helpful: false }, "ada", 409],
    ["a message that was not sent", "/api/users/ada/messages/ada_3/feedback", { helpful: true }, "ada", 409],
    ["another user's message", "/api/users/ada/messages/bea_1/feedback", { helpful: true }, "ada", 404],
    ["an unknown message", "/api/users/ada/messages/nope/feedback", { helpful: true }, "ada", 404],
    ["another user's token", "/api/users/ada/messages/ada_2/feedback", { helpful: true }, "bea", 403],
    ["no token", "/api/users/ada/messages/ada_2/feedback", { helpful: true }, null, 401],
    ["helpful missing", "/api/users/ada/messages/ada_2/feedback", { note: "hm" }, "ada", 400],
    [
      "a note too long",
      "/api/users/ada/messages/ada_2/feedback",
      { helpful: true, note: "x".repeat(501) },
      "ada",
      400,
    ],
    ["an unknown field", "/api/users/ada/messages/ada_2/feedback", { helpful: true, rating: 5 }, "ada", 400],
    [
      // Valid JSON ("\ud800"), but no UTF-8 can hold it: Firestore would refuse the write (a 503).
      "a note holding a lone surrogate",
      "/api/users/ada/messages/ada_2/feedback",
      { helpful: true, note: "fine \ud800 until here" },
      "ada",
      400,
    ],
  ])("%s: nothing written", async (_case, path, body, uid, status) => {
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    const response = await post(path, body, uid);
    expect(response.status).toBe(status);
    expect(await response.json()).toEqual({ success: false, error: expect.any(String) });
    if (status !== 409)
      expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
    expect((await db.doc("messageFeedback/ada_2").get()).exists).toBe(false);
    expect((await db.doc("messageFeedback/ada_1").get()).get("helpful")).toBe(true);
  });
});
