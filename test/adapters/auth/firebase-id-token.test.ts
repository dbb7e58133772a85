import { afterEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "@/config";
import { AppError } from "@/core/errors";

/*
 * In emulator mode firebase-admin checks revocation whatever it is asked, so the route tests
 * cannot show that production asks for it; this pins the call itself. The Auth emulator
 * stand-in's revocation is exercised end to end in test/routes/user-keys.test.ts.
 */
const verifyIdToken = vi.fn();
vi.mock("firebase-admin/auth", () => ({ getAuth: () => ({ verifyIdToken }) }));
vi.mock("@/adapters/firestore/client", () => ({ appFor: () => ({}) }));

const config = loadConfig({ NODE_ENV: "test", FIREBASE_PROJECT_ID: "demo-id-tokens" });
const withToken = (token: string) =>
  new Request("http://localhost/api/users/u1/api-key", { headers: { authorization: `Bearer ${token}` } });

afterEach(() => verifyIdToken.mockReset());

describe("Firebase ID tokens on the key routes", () => {
  it("asks firebase-admin to check revocation (and disabled users), not only the signature", async () => {
    const { requireFirebaseUser } = await import("@/adapters/auth/firebase-id-token");
    verifyIdToken.mockResolvedValue({ uid: "u1" });
    await expect(requireFirebaseUser(withToken("token-1"), config)).resolves.toBe("u1");
    expect(verifyIdToken).toHaveBeenCalledWith("token-1", true);
  });

  it("answers a revoked token with 401", async () => {
    const { requireFirebaseUser } = await import("@/adapters/auth/firebase-id-token");
    verifyIdToken.mockRejectedValue(
      Object.assign(new Error("The Firebase ID token has been revoked."), { code: "auth/id-token-revoked" }),
    );
    const refusal = await requireFirebaseUser(withToken("token-2"), config).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(AppError);
    expect((refusal as AppError).status).toBe(401);
  });
});

describe("the Auth emulator is never trusted on Vercel by accident", () => {
  const base = { NODE_ENV: "production", FIREBASE_PROJECT_ID: "demo-id-tokens" } as const;

  it.each(["production", "preview"])(
    "refuses FIREBASE_AUTH_EMULATOR_HOST with VERCEL_ENV=%s, naming the variable",
    (vercelEnv) => {
      const load = () =>
        loadConfig({ ...base, VERCEL_ENV: vercelEnv, FIREBASE_AUTH_EMULATOR_HOST: "127.0.0.1:9099" });
      expect(load).toThrow(AppError);
      expect(load).toThrow(/FIREBASE_AUTH_EMULATOR_HOST/);
    },
  );

  it("allows it on Vercel only with the explicit opt-in, and anywhere off Vercel", () => {
    expect(() =>
      loadConfig({
        ...base,
        VERCEL_ENV: "preview",
        FIREBASE_AUTH_EMULATOR_HOST: "127.0.0.1:9099",
        ALLOW_AUTH_EMULATOR_ON_VERCEL: "true",
      }),
    ).not.toThrow();
    expect(() => loadConfig({ ...base, FIREBASE_AUTH_EMULATOR_HOST: "127.0.0.1:9099" })).not.toThrow();
    expect(() => loadConfig({ ...base, VERCEL_ENV: "production" })).not.toThrow();
  });
});
