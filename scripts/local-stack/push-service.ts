/**
 * A local stand-in for a browser's push service (RFC 8030): the push service of `npm run dev`
 * and of tests. It issues subscriptions with keys of its own, as a browser would, so it can
 * decrypt what it receives (RFC 8291, `aes128gcm`) and show the push text, like the mail catcher
 * shows emails.
 *
 *   POST   /__push/subscriptions   a new subscription: `{ endpoint, keys: { p256dh, auth } }`
 *   GET    /__push/messages        received pushes, decrypted, oldest first
 *   DELETE /__push/messages        forget them and queued faults
 *   POST   /push/{id}              the endpoint a sender posts to; 201 when accepted
 *   GET    /                       a small HTML page for people
 */
import { createDecipheriv, createECDH, type ECDH, hkdfSync, randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

export interface ReceivedPush {
  subscriptionId: string;
  receivedAt: number;
  ttl: number | null;
  urgency: string | null;
  topic: string | null;
  /** The VAPID public key the sender identified itself with (`k=` of the Authorization header). */
  vapidKey: string | null;
  payload: string;
}

export interface PushSubscriptionKeys {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface PushService {
  url: string;
  received: ReceivedPush[];
  /** Every POST to an endpoint, accepted or not. */
  attempts: { subscriptionId: string; status: number }[];
  subscribe(): PushSubscriptionKeys;
  /** The next pushes to this subscription get these statuses (410: the browser unsubscribed). */
  queueFaults(subscriptionId: string, statuses: number[]): void;
  stop(): Promise<void>;
}

interface IssuedSubscription {
  ecdh: ECDH;
  auth: Buffer;
}

const hkdf = (salt: Buffer, ikm: Buffer, info: Buffer, length: number) =>
  Buffer.from(hkdfSync("sha256", ikm, salt, info, length));

/**
 * RFC 8291 §3.4 and RFC 8188: one `aes128gcm` record. The header is salt (16), record size (4),
 * key id length (1) and the sender's ephemeral public key; the key and nonce come from the
 * ECDH secret and the subscription's auth secret; the plaintext ends with a 0x02 delimiter.
 */
export function decryptAes128Gcm(body: Buffer, subscription: IssuedSubscription): string {
  const salt = body.subarray(0, 16);
  const keyIdLength = body.readUInt8(20);
  const senderPublicKey = body.subarray(21, 21 + keyIdLength);
  const record = body.subarray(21 + keyIdLength);
  const ecdhSecret = subscription.ecdh.computeSecret(senderPublicKey);
  const keyInfo = Buffer.concat([
    Buffer.from("WebPush: info\0"),
    subscription.ecdh.getPublicKey(),
    senderPublicKey,
  ]);
  const ikm = hkdf(subscription.auth, ecdhSecret, keyInfo, 32);
  const contentKey = hkdf(salt, ikm, Buffer.from("Content-Encoding: aes128gcm\0"), 16);
  const nonce = hkdf(salt, ikm, Buffer.from("Content-Encoding: nonce\0"), 12);
  const decipher = createDecipheriv("aes-128-gcm", contentKey, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end -= 1;
  if (padded[end] !== 2) throw new Error("not the last record (no 0x02 delimiter)");
  return padded.subarray(0, end).toString("utf8");
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

export async function startPushService({ port = 0 }: { port?: number } = {}): Promise<PushService> {
  const subscriptions = new Map<string, IssuedSubscription>();
  const faults = new Map<string, number[]>();
  const received: ReceivedPush[] = [];
  const attempts: PushService["attempts"] = [];
  let url = "";

  const subscribe = (): PushSubscriptionKeys => {
    const id = randomUUID();
    const ecdh = createECDH("prime256v1");
    ecdh.generateKeys();
    const auth = randomBytes(16);
    subscriptions.set(id, { ecdh, auth });
    return {
      endpoint: `${url}/push/${id}`,
      keys: { p256dh: ecdh.getPublicKey().toString("base64url"), auth: auth.toString("base64url") },
    };
  };

  const send = (response: ServerResponse, status: number, body: unknown, type = "application/json") => {
    response.writeHead(status, { "content-type": type });
    response.end(typeof body === "string" ? body : JSON.stringify(body));
  };

  const accept = async (request: IncomingMessage, response: ServerResponse, id: string) => {
    const body = await readBody(request);
    const subscription = subscriptions.get(id);
    const answer = (status: number, text: string) => {
      attempts.push({ subscriptionId: id, status });
      send(response, status, text, "text/plain");
    };
    if (!subscription) return answer(404, "no such subscription");
    const fault = faults.get(id)?.shift();
    if (fault !== undefined) {
      if (fault === 404 || fault === 410) subscriptions.delete(id);
      return answer(fault, "push service fault");
    }
    if (request.headers["content-encoding"] !== "aes128gcm") return answer(415, "aes128gcm only");
    const ttl = Number(request.headers.ttl);
    if (!Number.isInteger(ttl) || ttl < 0) return answer(400, "TTL header required");
    const authorization = String(request.headers.authorization ?? "");
    if (!/^vapid t=[\w-]+\.[\w-]+\.[\w-]+, k=[\w-]+$/.test(authorization))
      return answer(403, "VAPID authorization required");
    let payload: string;
    try {
      payload = decryptAes128Gcm(body, subscription);
    } catch {
      return answer(400, "payload does not decrypt with this subscription's keys");
    }
    received.push({
      subscriptionId: id,
      receivedAt: Date.now(),
      ttl,
      urgency: (request.headers.urgency as string | undefined) ?? null,
      topic: (request.headers.topic as string | undefined) ?? null,
      vapidKey: /k=([\w-]+)/.exec(authorization)?.[1] ?? null,
      payload,
    });
    return answer(201, "");
  };

  const page = () =>
    `<!doctype html><meta charset="utf-8"><title>Push service</title><body style="font-family:system-ui;margin:2rem">` +
    `<h1>Push service</h1><p>${received.length} push(es), ${subscriptions.size} subscription(s)</p>` +
    received
      .slice()
      .reverse()
      .map(
        (push) =>
          `<article style="border-top:1px solid #ccc;padding:1rem 0"><p>${new Date(push.receivedAt).toISOString()} · ` +
          `subscription ${escapeHtml(push.subscriptionId)} · TTL ${push.ttl} · ${escapeHtml(push.urgency ?? "")} · topic ${escapeHtml(push.topic ?? "")}</p>` +
          `<pre style="white-space:pre-wrap">${escapeHtml(push.payload)}</pre></article>`,
      )
      .join("");

  const server = createServer(async (request, response) => {
    const path = (request.url ?? "").split("?")[0] ?? "";
    const pushMatch = /^\/push\/([\w-]+)$/.exec(path);
    if (request.method === "POST" && pushMatch?.[1]) return accept(request, response, pushMatch[1]);
    await readBody(request);
    if (request.method === "POST" && path === "/__push/subscriptions")
      return send(response, 201, subscribe());
    if (request.method === "GET" && path === "/__push/messages") return send(response, 200, { received });
    if (request.method === "DELETE" && path === "/__push/messages") {
      received.length = 0;
      attempts.length = 0;
      faults.clear();
      return send(response, 200, { cleared: true });
    }
    if (request.method === "GET" && path === "/")
      return send(response, 200, page(), "text/html; charset=utf-8");
    return send(response, 404, { error: `no route ${request.method} ${path}` });
  });

  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("push service has no port");
  url = `http://127.0.0.1:${address.port}`;
  return {
    url,
    received,
    attempts,
    subscribe,
    queueFaults: (subscriptionId, statuses) =>
      faults.set(subscriptionId, [...(faults.get(subscriptionId) ?? []), ...statuses]),
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
