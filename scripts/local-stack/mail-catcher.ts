/**
 * A local stand-in for Resend's email API: the mail catcher of `npm run dev` and the Resend of
 * tests. The Resend SDK reaches it through `RESEND_BASE_URL`.
 *
 * It keeps every accepted email and honours `Idempotency-Key` the way Resend documents it: the
 * same key with the same payload returns the first email's id without sending again; the same
 * key with a different payload is a 409 `invalid_idempotent_request`; a key whose first request
 * is still in flight is a 409 `concurrent_idempotent_requests`.
 *
 * Control endpoints (not part of Resend):
 *   GET    /__catcher/emails   accepted emails, oldest first, with their headers
 *   DELETE /__catcher/emails   forget them, the idempotency keys and queued faults
 *   POST   /__catcher/faults   { "faults": [{ "status": 500 } | { "delayMs": 100 }] }, one consumed per send
 *   GET    /                   a small HTML inbox for people
 */
import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

export interface CaughtEmail {
  id: string;
  receivedAt: number;
  idempotencyKey: string | undefined;
  from: string;
  to: string[];
  subject: string;
  html: string | undefined;
  text: string | undefined;
  headers: Record<string, string> | undefined;
  tags: unknown;
}

export type MailFault = { status: number; name?: string; message?: string } | { delayMs: number };

export interface MailCatcher {
  url: string;
  port: number;
  emails: CaughtEmail[];
  /** Every POST /emails received, accepted or not, with its idempotency key. */
  attempts: { receivedAt: number; idempotencyKey: string | undefined; status: number }[];
  queueFaults(faults: MailFault[]): void;
  stop(): Promise<void>;
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  contentType = "application/json",
): void {
  response.writeHead(status, { "content-type": contentType });
  response.end(typeof body === "string" ? body : JSON.stringify(body));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/** The one-click unsubscribe URL of an email's `List-Unsubscribe` header, as a link to try by hand. */
function unsubscribeLink(email: CaughtEmail): string {
  const url = /^<(https?:[^>]+)>/.exec(email.headers?.["List-Unsubscribe"] ?? "")?.[1];
  return url ? `<p>List-Unsubscribe: <a href="${escapeHtml(url)}">${escapeHtml(url)}</a></p>` : "";
}

export async function startMailCatcher({ port = 0 }: { port?: number } = {}): Promise<MailCatcher> {
  const emails: CaughtEmail[] = [];
  const attempts: MailCatcher["attempts"] = [];
  const faults: MailFault[] = [];
  const keys = new Map<string, { fingerprint: string; id?: string; inFlight: boolean }>();

  const acceptEmail = async (request: IncomingMessage, response: ServerResponse, text: string) => {
    const idempotencyKey = (request.headers["idempotency-key"] as string | undefined) ?? undefined;
    const answer = (status: number, body: unknown) => {
      attempts.push({ receivedAt: Date.now(), idempotencyKey, status });
      send(response, status, body);
    };
    if (!request.headers.authorization?.startsWith("Bearer ")) {
      return answer(401, {
        statusCode: 401,
        name: "missing_api_key",
        message: "Missing API key in the authorization header.",
      });
    }
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return answer(422, { statusCode: 422, name: "validation_error", message: "Invalid JSON body." });
    }
    const to = Array.isArray(payload.to) ? payload.to.map(String) : payload.to ? [String(payload.to)] : [];
    if (!payload.from || to.length === 0 || !payload.subject) {
      return answer(422, {
        statusCode: 422,
        name: "validation_error",
        message: "from, to and subject are required.",
      });
    }

    const fingerprint = createHash("sha256").update(text).digest("hex");
    const known = idempotencyKey ? keys.get(idempotencyKey) : undefined;
    if (known) {
      if (known.fingerprint !== fingerprint) {
        return answer(409, {
          statusCode: 409,
          name: "invalid_idempotent_request",
          message: "Same idempotency key used with a different request payload.",
        });
      }
      if (known.inFlight) {
        return answer(409, {
          statusCode: 409,
          name: "concurrent_idempotent_requests",
          message: "Same idempotency key used while original request is still in progress.",
        });
      }
      if (known.id) return answer(200, { id: known.id });
    }
    const entry = { fingerprint, inFlight: true } as { fingerprint: string; id?: string; inFlight: boolean };
    if (idempotencyKey) keys.set(idempotencyKey, entry);

    const fault = faults.shift();
    if (fault && "delayMs" in fault) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault && "status" in fault) {
      // A failed request does not consume the key: Resend lets the caller retry with it.
      if (idempotencyKey) keys.delete(idempotencyKey);
      return answer(fault.status, {
        statusCode: fault.status,
        name: fault.name ?? "application_error",
        message: fault.message ?? "mail catcher fault",
      });
    }
    const id = randomUUID();
    emails.push({
      id,
      receivedAt: Date.now(),
      idempotencyKey,
      from: String(payload.from),
      to,
      subject: String(payload.subject),
      html: typeof payload.html === "string" ? payload.html : undefined,
      text: typeof payload.text === "string" ? payload.text : undefined,
      headers: payload.headers as Record<string, string> | undefined,
      tags: payload.tags,
    });
    entry.id = id;
    entry.inFlight = false;
    return answer(200, { id });
  };

  const inbox = () =>
    `<!doctype html><meta charset="utf-8"><title>Mail catcher</title><body style="font-family:system-ui;margin:2rem">` +
    `<h1>Mail catcher</h1><p>${emails.length} email(s)</p>` +
    emails
      .slice()
      .reverse()
      .map(
        (email) =>
          `<article style="border-top:1px solid #ccc;padding:1rem 0"><h2>${escapeHtml(email.subject)}</h2>` +
          `<p>To ${escapeHtml(email.to.join(", "))} · ${new Date(email.receivedAt).toISOString()}</p>` +
          unsubscribeLink(email) +
          `<pre style="white-space:pre-wrap">${escapeHtml(email.text ?? "")}</pre></article>`,
      )
      .join("");

  const server = createServer(async (request, response) => {
    const path = (request.url ?? "").split("?")[0] ?? "";
    const text = await readBody(request);
    if (request.method === "POST" && path === "/emails") return acceptEmail(request, response, text);
    if (path === "/__catcher/emails" && request.method === "GET") return send(response, 200, { emails });
    if (path === "/__catcher/emails" && request.method === "DELETE") {
      emails.length = 0;
      attempts.length = 0;
      faults.length = 0;
      keys.clear();
      return send(response, 200, { cleared: true });
    }
    if (path === "/__catcher/faults" && request.method === "POST") {
      faults.push(...((JSON.parse(text || "{}") as { faults?: MailFault[] }).faults ?? []));
      return send(response, 200, { queued: faults.length });
    }
    if (path === "/" && request.method === "GET")
      return send(response, 200, inbox(), "text/html; charset=utf-8");
    return send(response, 404, {
      statusCode: 404,
      name: "not_found",
      message: `no route ${request.method} ${path}`,
    });
  });

  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("mail catcher has no port");
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    emails,
    attempts,
    queueFaults: (queued) => faults.push(...queued),
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
