import "server-only";
import { AppError } from "@/core/errors";

/**
 * A request body as text, read up to `maxBytes`: for the routes anyone may call without a
 * secret (the one-click unsubscribe, Resend's webhook), which would otherwise read whatever
 * they are sent into memory before any check. Beyond the limit the read stops: a 400, nothing
 * written.
 */
export async function readBoundedText(request: Request, maxBytes: number): Promise<string> {
  const tooLarge = () =>
    new AppError("bad_request:api", `request body too large (at most ${maxBytes} bytes)`);
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.byteLength;
    if (received > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}
