/**
 * A local HTTP server that records every request and answers with a programmable responder:
 * the outside world as the code under test sees it (here, the processor URL the scheduler
 * fans out to).
 */
import { createServer, type IncomingMessage } from "node:http";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
  receivedAt: number;
}

export type Responder = (request: RecordedRequest) => { status: number; body?: unknown; delayMs?: number };

export interface RecordingServer {
  url: string;
  requests: RecordedRequest[];
  respondWith(responder: Responder): void;
  clear(): void;
  stop(): Promise<void>;
}

export async function startRecordingServer(
  initial: Responder = () => ({ status: 200, body: {} }),
): Promise<RecordingServer> {
  let responder = initial;
  const requests: RecordedRequest[] = [];
  const server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
    incoming.on("end", async () => {
      const recorded: RecordedRequest = {
        method: incoming.method ?? "",
        path: incoming.url ?? "",
        headers: incoming.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        receivedAt: Date.now(),
      };
      requests.push(recorded);
      const { status, body, delayMs } = responder(recorded);
      if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
      outgoing.writeHead(status, { "content-type": "application/json" });
      outgoing.end(JSON.stringify(body ?? {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("recording server has no port");
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    respondWith(next) {
      responder = next;
    },
    clear() {
      requests.length = 0;
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
