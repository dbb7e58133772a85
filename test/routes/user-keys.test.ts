import { randomBytes } from "node:crypto";
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COLLECTIONS } from "@/adapters/firestore/collections";
import { type AuthEmulator, startAuthEmulator } from "../../scripts/local-stack/auth-emulator";
import type { LlmSandbox } from "../../scripts/local-stack/llm-sandbox";
import type { EmulatorHandle } from "../support/firestore";
import { emulatorIdToken } from "../support/id-tokens";
import type { NextServer } from "../support/next-server";
import { seedDueUser } from "../support/processor";
import { quietWrites } from "../support/quiet-writes";
import { type RouteStack, startRouteStack } from "../support/stack";

const SECRET = "user-keys-test-secret-0123456789";
const ALICE_KEY = "sk-or-v1-alice-0123456789abcdef-SECRETPART-9876";
const ALICE_NEW_KEY = "sk-or-v1-alice-second-key-abcdef-OTHERSECRET-4321";

let stack: RouteStack;
let handle: EmulatorHandle;
let sandbox: LlmSandbox;
let db: Firestore;
let projectId: string;
let server: NextServer;
let auth: AuthEmulator;
const responses: string[] = [];

beforeAll(async () => {
  auth = await startAuthEmulator();
  stack = await startRouteStack({
    prefix: "user-keys",
    cronSecret: SECRET,
    env: {
      FIREBASE_AUTH_EMULATOR_HOST: auth.host,
      OPENROUTER_API_KEY: "sk-or-default-key-0000000000000",
      ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      ENABLE_TEST_ROUTES: "true",
    },
  });
  ({ handle, sandbox, db, projectId, server } = stack);
});

afterAll(async () => {
  await stack?.stop();
  await auth?.stop();
});

async function call(path: string, init: { method?: string; body?: unknown; token?: string | null } = {}) {
  const { method = "GET", body, token } = init;
  const headers = new Headers({ "content-type": "application/json" });
  if (token) headers.set("authorization", `Bearer ${token}`);
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  responses.push(text);
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
}

const tokenFor = (uid: string) => emulatorIdToken({ uid, projectId });

describe("own keys: who may do what", () => {
  it.each([
    ["no token", null, 401],
    ["a malformed token", "not-a-jwt", 401],
    ["an expired token", emulatorIdToken({ uid: "alice", projectId: "x", expiresInSeconds: -60 }), 401],
    ["a token for another project", emulatorIdToken({ uid: "alice", projectId: "someone-else" }), 401],
  ])("refuses %s with 401, writing nothing", async (_case, token, status) => {
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    for (const method of ["GET", "PUT", "DELETE"]) {
      const response = await call("/api/users/alice/api-key", {
        method,
        token,
        ...(method === "PUT" ? { body: { apiKey: ALICE_KEY } } : {}),
      });
      expect(response.status).toBe(status);
    }
    expect((await call("/api/users/alice/usage", { token })).status).toBe(401);
    expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
  });

  it("refuses a disabled user's token", async () => {
    auth.disable("disabled-user");
    const response = await call("/api/users/disabled-user/api-key", { token: tokenFor("disabled-user") });
    expect(response.status).toBe(401);
  });

  it("refuses a token issued before the user's tokens were revoked, and accepts one issued after", async () => {
    const revokedToken = tokenFor("revoked-user");
    expect((await call("/api/users/revoked-user/api-key", { token: revokedToken })).status).toBe(200);
    // The token's auth_time is a minute ago; revoking now makes it invalid.
    auth.revoke("revoked-user");
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    for (const path of ["/api/users/revoked-user/api-key", "/api/users/revoked-user/usage"]) {
      const response = await call(path, { token: revokedToken });
      expect(response.status).toBe(401);
      expect(response.body).toEqual({ success: false, error: expect.any(String) });
    }
    expect(
      (
        await call("/api/users/revoked-user/api-key", {
          method: "PUT",
          token: revokedToken,
          body: { apiKey: ALICE_KEY },
        })
      ).status,
    ).toBe(401);
    expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
    // Revoked two hours ago: a token from a sign-in since then (auth_time a minute ago) is fine.
    auth.revoke("signed-in-again", Math.floor(Date.now() / 1000) - 7_200);
    expect(
      (await call("/api/users/signed-in-again/api-key", { token: tokenFor("signed-in-again") })).status,
    ).toBe(200);
  });

  it.each([
    ["a reserved id", "__reserved__", [400]],
    ["an id too long for Firestore", "x".repeat(1_600), [400]],
    // Whether the segment arrives decoded ("a/b": 400) or not ("a%2Fb": not the caller's, 403).
    ["an id with an encoded slash", "a%2Fb", [400, 403]],
  ])(
    "answers %s in the path with a 4xx in the API's error shape, never 500",
    async (_case, userId, statuses) => {
      for (const path of [`/api/users/${userId}/api-key`, `/api/users/${userId}/usage`]) {
        const response = await call(path, { token: tokenFor(decodeURIComponent(userId)) });
        expect(statuses).toContain(response.status);
        expect(response.body).toEqual({ success: false, error: expect.any(String) });
      }
    },
  );

  it("a token for user A cannot read, set or delete user B's key (403)", async () => {
    const writesBefore = await quietWrites(() => handle.emulator.stats(projectId).writes);
    const bob = tokenFor("bob");
    expect((await call("/api/users/alice/api-key", { token: bob })).status).toBe(403);
    expect(
      (await call("/api/users/alice/api-key", { method: "PUT", token: bob, body: { apiKey: ALICE_KEY } }))
        .status,
    ).toBe(403);
    expect((await call("/api/users/alice/api-key", { method: "DELETE", token: bob })).status).toBe(403);
    expect((await call("/api/users/alice/usage", { token: bob })).status).toBe(403);
    expect(await quietWrites(() => handle.emulator.stats(projectId).writes)).toBe(writesBefore);
  });

  it("rejects a key OpenRouter does not accept, and a malformed body, without storing anything", async () => {
    const alice = tokenFor("alice");
    const bad = await call("/api/users/alice/api-key", {
      method: "PUT",
      token: alice,
      body: { apiKey: "sk-or-bad-key-0000000000000000000" },
    });
    expect(bad.status).toBe(400);
    expect(
      (await call("/api/users/alice/api-key", { method: "PUT", token: alice, body: { key: "x" } })).status,
    ).toBe(400);
    expect((await db.doc("userApiKeys/alice").get()).exists).toBe(false);
  });

  it("rejects a key with characters outside printable ASCII with 400, before asking OpenRouter", async () => {
    const alice = tokenFor("alice");
    const requestsBefore = sandbox.requests.length;
    for (const apiKey of ["€".repeat(30), `sk-or-v1-${"é".repeat(30)}`, `sk-or-v1-${"a".repeat(20)}\u0000`]) {
      const response = await call("/api/users/alice/api-key", {
        method: "PUT",
        token: alice,
        body: { apiKey },
      });
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ success: false, error: expect.stringContaining("apiKey") });
    }
    expect(sandbox.requests.length).toBe(requestsBefore);
    expect((await db.doc("userApiKeys/alice").get()).exists).toBe(false);
  });
});

describe("own keys: set, use, replace, delete", () => {
  it("stores the key encrypted, shows only its last 4, uses it, and never lets it out", async () => {
    const alice = tokenFor("alice");
    const set = await call("/api/users/alice/api-key", {
      method: "PUT",
      token: alice,
      body: { apiKey: ALICE_KEY },
    });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ success: true, hasKey: true, key: { last4: "9876", status: "active" } });

    const read = await call("/api/users/alice/api-key", { token: alice });
    expect(read.body).toMatchObject({ hasKey: true, key: { last4: "9876" } });

    await seedDueUser(db, { uid: "alice", now: Date.now() });
    const before = sandbox.requests.length;
    const run = await fetch(`${server.url}/api/coaching/generateCoachingMessage/test`, {
      method: "POST",
      headers: { authorization: `Bearer ${SECRET}`, "content-type": "application/json" },
      body: JSON.stringify({ action: "test-user", userId: "alice" }),
    });
    responses.push(await run.text());
    expect(sandbox.requests.slice(before).map((request) => request.authorization)).toContain(
      `Bearer ${ALICE_KEY}`,
    );

    const usage = await call("/api/users/alice/usage", { token: alice });
    expect(usage.body).toMatchObject({
      success: true,
      keySource: "user",
      keyStatus: "active",
      requests: { minute: expect.any(Number), day: expect.any(Number), month: expect.any(Number) },
      limits: { perMinute: 60 },
      canRequestNow: true,
    });
    expect((usage.body.requests as { day: number }).day).toBeGreaterThanOrEqual(2);

    const replaced = await call("/api/users/alice/api-key", {
      method: "PUT",
      token: alice,
      body: { apiKey: ALICE_NEW_KEY },
    });
    expect(replaced.body).toMatchObject({ key: { last4: "4321" } });
    expect((await call("/api/users/alice/api-key", { method: "DELETE", token: alice })).body).toMatchObject({
      hasKey: false,
    });
    expect((await call("/api/users/alice/api-key", { method: "DELETE", token: alice })).status).toBe(404);
  });

  it("the raw keys appear in no stored document, no API response and no log line", async () => {
    // The emulator does not list collections; every collection the engine writes is named here.
    const dump: string[] = [];
    for (const collection of Object.values(COLLECTIONS)) {
      if (collection === "journalEntries") continue;
      for (const document of (await db.collection(collection).get()).docs)
        dump.push(JSON.stringify(document.data()));
    }
    for (const uid of ["alice"]) {
      for (const document of (await db.collection(`users/${uid}/journalEntries`).get()).docs) {
        dump.push(JSON.stringify(document.data()));
      }
    }
    expect(dump.length).toBeGreaterThan(5);
    const everything = [...dump, ...responses, server.output()].join("\n");
    for (const secret of [ALICE_KEY, ALICE_NEW_KEY, "SECRETPART", "OTHERSECRET"]) {
      expect(everything).not.toContain(secret);
    }
  });
});
