/**
 * A local stand-in for a Slack incoming webhook (ALERT_WEBHOOK_URL in tests): `POST /` with
 * `{ "text": … }` answers `ok` like Slack and keeps the post; faults queued with `queueFaults`
 * are consumed one per post (a status to answer, or a delay), as the mail catcher does.
 */
import { createServer, type IncomingMessage } from "node:http";

export interface AlertPost {
  receivedAt: number;
  text: string;
}

export type WebhookFault = { status: number } | { delayMs: number };

export interface AlertWebhookStandIn {
  url: string;
  /** Posts answered `ok`, oldest first. */
  posts: AlertPost[];
  /** Every POST received, answered or not, with the status it got. */
  attempts: { receivedAt: number; status: number }[];
  queueFaults(faults: WebhookFault[]): void;
  clear(): void;
  stop(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startAlertWebhook(): Promise<AlertWebhookStandIn> {
  const posts: AlertPost[] = [];
  const attempts: AlertWebhookStandIn["attempts"] = [];
  const faults: WebhookFault[] = [];
  const server = createServer(async (request, response) => {
    const body = await readBody(request);
    const answer = (status: number, text: string) => {
      attempts.push({ receivedAt: Date.now(), status });
      response.writeHead(status, { "content-type": "text/plain" });
      response.end(text);
    };
    if (request.method !== "POST") return answer(405, "method_not_allowed");
    const fault = faults.shift();
    if (fault && "delayMs" in fault) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault && "status" in fault) return answer(fault.status, "fault");
    let text: unknown;
    try {
      text = (JSON.parse(body) as { text?: unknown }).text;
    } catch {
      return answer(400, "invalid_payload");
    }
    // Slack's answer to a payload without text.
    if (typeof text !== "string" || text.length === 0) return answer(400, "no_text");
    posts.push({ receivedAt: Date.now(), text });
    answer(200, "ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("alert webhook stand-in has no port");
  return {
    url: `http://127.0.0.1:${address.port}/services/T000/B000/test`,
    posts,
    attempts,
    queueFaults(next) {
      faults.push(...next);
    },
    clear() {
      posts.length = 0;
      attempts.length = 0;
      faults.length = 0;
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
