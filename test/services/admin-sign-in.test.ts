import { createHash, createHmac } from "node:crypto";
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { type EmulatorHandle, startTestEmulator } from "../support/firestore";

/*
 * `signIn` as the login Server Action calls it, against the Firestore emulator. Only Next.js's
 * request scope is stood in for: the cookie jar the session is written to.
 */
const jar = new Map<string, string>();
vi.mock("next/headers", () => ({
  cookies: async () => ({
    get: (name: string) => (jar.has(name) ? { name, value: jar.get(name) } : undefined),
    set: (name: string, value: string) => void jar.set(name, value),
    delete: (name: string) => void jar.delete(name),
  }),
}));
vi.mock("next/navigation", () => ({
  redirect: (to: string) => {
    throw new Error(`redirect ${to}`);
  },
}));

const PASSWORD = "correct-horse-battery-staple";
const SESSION_SECRET = "a-high-entropy-session-secret-0123456789abcdef";

let handle: EmulatorHandle;
let db: Firestore;
let auth: typeof import("@/services/admin-auth");
let session: typeof import("@/http/admin-session");

beforeAll(async () => {
  handle = await startTestEmulator();
  const project = handle.freshProject("admin-sign-in");
  db = project.db;
  process.env.FIREBASE_PROJECT_ID = project.projectId;
  process.env.ADMIN_PASSWORD = PASSWORD;
  process.env.ADMIN_SESSION_SECRET = SESSION_SECRET;
  auth = await import("@/services/admin-auth");
  session = await import("@/http/admin-session");
});

afterAll(async () => {
  await handle?.stop();
});

beforeEach(() => jar.clear());

let addressCounter = 0;
/** A fresh IPv4 address for each test, so tests do not share a bucket. */
const freshAddress = () => {
  addressCounter += 1;
  return `198.51.${Math.floor(addressCounter / 250)}.${addressCounter % 250}`;
};

type Outcome = "wrong" | "throttled" | "ok";
const outcomeOf = (result: { ok: boolean; error?: string }): Outcome =>
  result.ok ? "ok" : result.error === "Wrong password." ? "wrong" : "throttled";

/** Bursts of sign-ins against the emulator: each write costs O(collection), slower on a busy machine. */
const BURST_TIMEOUT_MS = 30_000;

describe("admin sign-in throttle", () => {
  it("a successful sign-in sets a cookie that verifies with the session secret only", async () => {
    const result = await auth.signIn({ password: PASSWORD, clientAddress: "203.0.113.200" });
    expect(result).toEqual({ ok: true });
    const token = jar.get(session.SESSION_COOKIE);
    expect(token).toBeTruthy();
    expect(session.verifySessionToken({ token, sessionSecret: SESSION_SECRET, now: Date.now() })).toBe(true);
    expect(session.verifySessionToken({ token, sessionSecret: PASSWORD, now: Date.now() })).toBe(false);
    expect(jar.get(session.DEVICE_COOKIE)).toBeTruthy();
  });

  it("a parallel burst from one address gets no more guesses than the per-address limit", async () => {
    const clientAddress = freshAddress();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => auth.signIn({ password: "guess", clientAddress })),
    );
    const outcomes = results.map(outcomeOf);
    expect(outcomes.filter((outcome) => outcome === "wrong")).toHaveLength(5);
    expect(outcomes.filter((outcome) => outcome === "throttled")).toHaveLength(15);
    // Even the right password waits now: the guess budget is spent.
    expect(outcomeOf(await auth.signIn({ password: PASSWORD, clientAddress }))).toBe("throttled");
  });

  it("counts every address of an IPv6 /64 as one", async () => {
    const outcomes: Outcome[] = [];
    for (let host = 1; host <= 8; host += 1) {
      outcomes.push(
        outcomeOf(
          await auth.signIn({ password: "guess", clientAddress: `2001:db8:0:77::${host.toString(16)}` }),
        ),
      );
    }
    outcomes.push(
      outcomeOf(await auth.signIn({ password: "guess", clientAddress: "2001:0db8:0000:0077:ffff:1:2:3" })),
    );
    expect(outcomes.filter((outcome) => outcome === "wrong")).toHaveLength(5);
    // Another /64 has its own budget.
    expect(outcomeOf(await auth.signIn({ password: "guess", clientAddress: "2001:db8:0:78::1" }))).toBe(
      "wrong",
    );
  });

  it(
    "holds a global ceiling across many addresses",
    async () => {
      const { LOGIN_THROTTLE_LIMITS } = await import("@/core/login-throttle");
      const results = await Promise.all(
        Array.from({ length: LOGIN_THROTTLE_LIMITS.global + 30 }, () =>
          auth.signIn({ password: "guess", clientAddress: freshAddress() }),
        ),
      );
      const wrong = results.map(outcomeOf).filter((outcome) => outcome === "wrong").length;
      // Earlier tests in this window spent some of the global budget too.
      expect(wrong).toBeLessThanOrEqual(LOGIN_THROTTLE_LIMITS.global);
      expect(wrong).toBeGreaterThan(LOGIN_THROTTLE_LIMITS.global - 20);
      // Spent: even the right password from a new address waits for the next window.
      expect(outcomeOf(await auth.signIn({ password: PASSWORD, clientAddress: freshAddress() }))).toBe(
        "throttled",
      );
    },
    BURST_TIMEOUT_MS,
  );

  it("keeps the throttle's documents in the engine's own collection", async () => {
    const { COLLECTIONS } = await import("@/adapters/firestore/collections");
    expect(COLLECTIONS).toHaveProperty("adminLoginThrottle");
    const documents = (await db.collection(COLLECTIONS.adminLoginThrottle as string).get()).docs;
    expect(documents.length).toBeGreaterThan(0);
    for (const document of documents) {
      expect(JSON.stringify(document.data())).not.toContain("198.51.");
    }
  });
});

describe("the address a sign-in counts against", () => {
  const headersOf = (entries: Record<string, string>) => new Headers(entries);

  it.each([
    ["the rightmost X-Forwarded-For entry: the one the nearest proxy added", {}, 0, "198.51.100.7"],
    ["the entry before the trusted proxies when there are some", {}, 1, "192.0.2.1"],
    ["'unknown' when there are fewer entries than trusted hops", {}, 5, "unknown"],
    ["'unknown' without X-Forwarded-For", { "x-forwarded-for": "" }, 0, "unknown"],
  ])("off Vercel: %s", async (_case, override, trustedProxyHops, expected) => {
    const { clientAddressFrom } = await import("@/core/login-throttle");
    const headers = headersOf({
      "x-forwarded-for": "10.0.0.1, 192.0.2.1, 198.51.100.7",
      "x-vercel-forwarded-for": "203.0.113.66",
      "x-real-ip": "203.0.113.67",
      ...override,
    });
    expect(clientAddressFrom({ headers, onVercel: false, trustedProxyHops })).toBe(expected);
  });

  it("a client off Vercel cannot pick its bucket by sending X-Forwarded-For, X-Real-IP or x-vercel-forwarded-for", async () => {
    const { clientAddressFrom } = await import("@/core/login-throttle");
    // What a proxy that appends the peer address forwards, whatever the client put first.
    const buckets = ["1.1.1.1", "2.2.2.2", "3.3.3.3"].map((spoofed) =>
      clientAddressFrom({
        headers: headersOf({
          "x-forwarded-for": `${spoofed}, 198.51.100.7`,
          "x-real-ip": spoofed,
          "x-vercel-forwarded-for": spoofed,
        }),
        onVercel: false,
        trustedProxyHops: 0,
      }),
    );
    expect(new Set(buckets)).toEqual(new Set(["198.51.100.7"]));
  });

  it("off Vercel with TRUSTED_PROXY_HOPS unset, X-Forwarded-For is not trusted: every request counts as 'unknown'", async () => {
    const { clientAddressFrom } = await import("@/core/login-throttle");
    const { loadConfig } = await import("@/config");
    const hopsOf = (settings: Record<string, string>) =>
      loadConfig({ NODE_ENV: "test", FIREBASE_PROJECT_ID: "demo-hops", ...settings }).admin.clientAddress
        .trustedProxyHops;
    // `next start` reached directly keeps whatever X-Forwarded-For the client sends.
    const buckets = ["1.1.1.1", "2.2.2.2", "198.51.100.7"].map((forged) =>
      clientAddressFrom({
        headers: headersOf({ "x-forwarded-for": forged }),
        onVercel: false,
        trustedProxyHops: hopsOf({}),
      }),
    );
    expect(new Set(buckets)).toEqual(new Set(["unknown"]));
    expect(hopsOf({ TRUSTED_PROXY_HOPS: "" })).toBeUndefined();
    // Set explicitly (behind a proxy that appends the peer address): the entry it names.
    expect(hopsOf({ TRUSTED_PROXY_HOPS: "0" })).toBe(0);
    expect(hopsOf({ TRUSTED_PROXY_HOPS: "1" })).toBe(1);
    expect(() => hopsOf({ TRUSTED_PROXY_HOPS: "-1" })).toThrow(/TRUSTED_PROXY_HOPS/);
  });

  it("on Vercel: the address Vercel's edge sets, which it overwrites on every request", async () => {
    const { clientAddressFrom } = await import("@/core/login-throttle");
    const vercel = (entries: Record<string, string>) =>
      clientAddressFrom({ headers: headersOf(entries), onVercel: true, trustedProxyHops: 0 });
    expect(vercel({ "x-vercel-forwarded-for": "203.0.113.66", "x-forwarded-for": "1.1.1.1" })).toBe(
      "203.0.113.66",
    );
    expect(vercel({ "x-real-ip": "203.0.113.67", "x-forwarded-for": "1.1.1.1" })).toBe("203.0.113.67");
    expect(vercel({})).toBe("unknown");
  });
});

describe("a known device", () => {
  it("a successful sign-in sets (or renews) a long-lived known-device cookie, signed with the session secret", async () => {
    // Held already, because an earlier test in this window filled the global ceiling; the
    // first sign-in of the file sets one without (see the first test).
    const held = session.createDeviceToken({ sessionSecret: SESSION_SECRET, now: Date.now() - 1_000 });
    jar.set(session.DEVICE_COOKIE, held);
    const result = await auth.signIn({ password: PASSWORD, clientAddress: freshAddress() });
    expect(result).toEqual({ ok: true });
    const device = jar.get(session.DEVICE_COOKIE);
    expect(device).toBeTruthy();
    expect(device).not.toBe(held);
    expect(session.verifyDeviceToken({ token: device, sessionSecret: SESSION_SECRET, now: Date.now() })).toBe(
      true,
    );
    // Not a session: the two tokens are signed for different purposes.
    expect(
      session.verifySessionToken({ token: device, sessionSecret: SESSION_SECRET, now: Date.now() }),
    ).toBe(false);
  });

  it(
    "passes the global ceiling others filled, with the right password; without it, or with a forged one, it waits",
    async () => {
      const { LOGIN_THROTTLE_LIMITS } = await import("@/core/login-throttle");
      // Many addresses fill the global ceiling for this window.
      await Promise.all(
        Array.from({ length: LOGIN_THROTTLE_LIMITS.global + 10 }, () =>
          auth.signIn({ password: "guess", clientAddress: freshAddress() }),
        ),
      );
      expect(outcomeOf(await auth.signIn({ password: PASSWORD, clientAddress: freshAddress() }))).toBe(
        "throttled",
      );
      jar.set(
        session.DEVICE_COOKIE,
        session.createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() }),
      );
      expect(outcomeOf(await auth.signIn({ password: PASSWORD, clientAddress: freshAddress() }))).toBe(
        "throttled",
      );
      jar.set(
        session.DEVICE_COOKIE,
        session.createDeviceToken({ sessionSecret: SESSION_SECRET, now: Date.now() }),
      );
      expect(outcomeOf(await auth.signIn({ password: PASSWORD, clientAddress: freshAddress() }))).toBe("ok");
    },
    BURST_TIMEOUT_MS,
  );

  it(
    "is held to a per-device limit, from one address or many",
    async () => {
      const clientAddress = freshAddress();
      jar.set(
        session.DEVICE_COOKIE,
        session.createDeviceToken({ sessionSecret: SESSION_SECRET, now: Date.now() }),
      );
      const outcomes: Outcome[] = [];
      for (let guess = 0; guess < 6; guess += 1) {
        outcomes.push(outcomeOf(await auth.signIn({ password: "guess", clientAddress })));
      }
      expect(outcomes).toEqual(["wrong", "wrong", "wrong", "wrong", "wrong", "throttled"]);
      expect(outcomeOf(await auth.signIn({ password: PASSWORD, clientAddress }))).toBe("throttled");

      // A stolen device cookie gets no more guesses by changing (or forging) its address.
      jar.set(
        session.DEVICE_COOKIE,
        session.createDeviceToken({ sessionSecret: SESSION_SECRET, now: Date.now() }),
      );
      const spread: Outcome[] = [];
      for (let guess = 0; guess < 6; guess += 1) {
        spread.push(outcomeOf(await auth.signIn({ password: "guess", clientAddress: freshAddress() })));
      }
      expect(spread).toEqual(["wrong", "wrong", "wrong", "wrong", "wrong", "throttled"]);
    },
    BURST_TIMEOUT_MS,
  );

  it("counts in its own bucket, not its address's: guesses sent as the admin's address cannot lock the admin out", async () => {
    const adminAddress = freshAddress();
    // An attacker spends the admin's address bucket (off Vercel, by forging X-Forwarded-For).
    for (let guess = 0; guess < 6; guess += 1) {
      await auth.signIn({ password: "guess", clientAddress: adminAddress });
    }
    expect(outcomeOf(await auth.signIn({ password: PASSWORD, clientAddress: adminAddress }))).toBe(
      "throttled",
    );
    jar.set(
      session.DEVICE_COOKIE,
      session.createDeviceToken({ sessionSecret: SESSION_SECRET, now: Date.now() }),
    );
    expect(outcomeOf(await auth.signIn({ password: PASSWORD, clientAddress: adminAddress }))).toBe("ok");
  });
});

describe("admin session cookie", () => {
  it("is keyed by ADMIN_SESSION_SECRET, so a stolen cookie does not let anyone test password guesses offline", () => {
    const token = session.createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() });
    const [payload = "", signature] = token.split(".");
    const passwordKeys = [
      PASSWORD,
      createHash("sha256").update(`coaching-engine:admin-session:${PASSWORD}`).digest(),
    ];
    for (const key of passwordKeys) {
      expect(createHmac("sha256", key).update(payload).digest("base64url")).not.toBe(signature);
    }
    expect(session.verifySessionToken({ token, sessionSecret: SESSION_SECRET, now: Date.now() })).toBe(true);
  });

  it("rotating the secret signs every session out", () => {
    const token = session.createSessionToken({ sessionSecret: SESSION_SECRET, now: Date.now() });
    expect(
      session.verifySessionToken({ token, sessionSecret: `${SESSION_SECRET}-rotated`, now: Date.now() }),
    ).toBe(false);
  });
});
