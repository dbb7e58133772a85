/**
 * The part of the Firebase Auth emulator that firebase-admin needs to verify ID tokens: with
 * FIREBASE_AUTH_EMULATOR_HOST set, `verifyIdToken` accepts the emulator's unsigned tokens and
 * then looks the user up (`accounts:lookup`) to refuse disabled or revoked ones. Every uid
 * exists here unless it was disabled; tokens themselves are minted by the caller.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";

export interface AuthEmulator {
  /** For FIREBASE_AUTH_EMULATOR_HOST. */
  host: string;
  disable(uid: string): void;
  stop(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startAuthEmulator({ port = 0 }: { port?: number } = {}): Promise<AuthEmulator> {
  const disabled = new Set<string>();
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
      }));
      response.end(JSON.stringify({ kind: "identitytoolkit#GetAccountInfoResponse", users }));
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
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
