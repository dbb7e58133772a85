/**
 * The part of the Firebase Auth emulator that firebase-admin needs to verify ID tokens: with
 * FIREBASE_AUTH_EMULATOR_HOST set, `verifyIdToken` accepts the emulator's unsigned tokens and
 * then looks the user up (`accounts:lookup`) to refuse disabled or revoked ones, as
 * `verifyIdToken(token, true)` does in production. Every uid exists here; `disable` and
 * `revoke` (or firebase-admin's `revokeRefreshTokens`, an `accounts:update` with `validSince`)
 * change what the lookup answers. Tokens themselves are minted by the caller.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";

export interface AuthEmulator {
  /** For FIREBASE_AUTH_EMULATOR_HOST. */
  host: string;
  disable(uid: string): void;
  /**
   * Revokes the user's tokens: those whose `auth_time` is before `validSinceSeconds` (Unix
   * seconds, default now) are refused from then on.
   */
  revoke(uid: string, validSinceSeconds?: number): void;
  stop(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startAuthEmulator({ port = 0 }: { port?: number } = {}): Promise<AuthEmulator> {
  const disabled = new Set<string>();
  const validSince = new Map<string, number>();
  const server: Server = createServer(async (request, response) => {
    const path = (request.url ?? "").split("?")[0] ?? "";
    const text = await readBody(request);
    response.setHeader("content-type", "application/json");
    if (request.method === "POST" && path.endsWith("/accounts:lookup")) {
      const { localId = [] } = JSON.parse(text || "{}") as { localId?: string[] };
      const users = localId.map((uid) => ({
        localId: uid,
        disabled: disabled.has(uid),
        emailVerified: true,
        providerUserInfo: [],
        createdAt: "0",
        lastLoginAt: "0",
        // The Identity Toolkit sends it as a string of Unix seconds.
        ...(validSince.has(uid) ? { validSince: String(validSince.get(uid)) } : {}),
      }));
      response.end(JSON.stringify({ kind: "identitytoolkit#GetAccountInfoResponse", users }));
      return;
    }
    if (request.method === "POST" && path.endsWith("/accounts:update")) {
      const update = JSON.parse(text || "{}") as { localId?: string; validSince?: number | string };
      if (update.localId && update.validSince !== undefined) {
        validSince.set(update.localId, Number(update.validSince));
      }
      response.end(
        JSON.stringify({ kind: "identitytoolkit#SetAccountInfoResponse", localId: update.localId }),
      );
      return;
    }
    response.statusCode = 404;
    response.end(JSON.stringify({ error: { code: 404, message: `no route ${request.method} ${path}` } }));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("auth emulator has no port");
  return {
    host: `127.0.0.1:${address.port}`,
    disable: (uid) => disabled.add(uid),
    revoke: (uid, validSinceSeconds = Math.floor(Date.now() / 1000)) => {
      validSince.set(uid, validSinceSeconds);
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
