import { Resend } from "resend";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type MailCatcher, startMailCatcher } from "../../../scripts/local-stack/mail-catcher";

let catcher: MailCatcher;
let resend: Resend;

beforeAll(async () => {
  catcher = await startMailCatcher();
  resend = new Resend("re_sandbox_key", { baseUrl: catcher.url });
});
afterAll(async () => {
  await catcher.stop();
});
beforeEach(async () => {
  await fetch(`${catcher.url}/__catcher/emails`, { method: "DELETE" });
});

const email = {
  from: "Coach <coach@example.com>",
  to: "ada@example.com",
  subject: "Your note",
  text: "Hello",
};

describe("mail catcher, driven by the real Resend SDK", () => {
  it("keeps a sent email and returns its id", async () => {
    const { data, error } = await resend.emails.send(email);
    expect(error).toBeNull();
    expect(catcher.emails).toEqual([
      expect.objectContaining({ id: data?.id, to: ["ada@example.com"], subject: "Your note" }),
    ]);
  });

  it("sends once per idempotency key and returns the first id again", async () => {
    const first = await resend.emails.send(email, { idempotencyKey: "event-1" });
    const second = await resend.emails.send(email, { idempotencyKey: "event-1" });
    expect(second.data?.id).toBe(first.data?.id);
    expect(catcher.emails).toHaveLength(1);
    expect(catcher.emails[0]?.idempotencyKey).toBe("event-1");
  });

  it("refuses a reused key with a different payload as invalid_idempotent_request", async () => {
    await resend.emails.send(email, { idempotencyKey: "event-2" });
    const { error } = await resend.emails.send({ ...email, subject: "Other" }, { idempotencyKey: "event-2" });
    expect(error).toMatchObject({ name: "invalid_idempotent_request", statusCode: 409 });
  });

  it("answers a key still in flight with concurrent_idempotent_requests", async () => {
    catcher.queueFaults([{ delayMs: 200 }]);
    const [first, second] = await Promise.all([
      resend.emails.send(email, { idempotencyKey: "event-3" }),
      new Promise((resolve) => setTimeout(resolve, 50)).then(() =>
        resend.emails.send(email, { idempotencyKey: "event-3" }),
      ),
    ]);
    expect(first.error).toBeNull();
    expect(second.error).toMatchObject({ name: "concurrent_idempotent_requests", statusCode: 409 });
    expect(catcher.emails).toHaveLength(1);
  });

  it("returns queued failures as errors, and a retry with the same key then succeeds", async () => {
    catcher.queueFaults([{ status: 500 }]);
    const failed = await resend.emails.send(email, { idempotencyKey: "event-4" });
    expect(failed.error).toMatchObject({ statusCode: 500 });
    const retried = await resend.emails.send(email, { idempotencyKey: "event-4" });
    expect(retried.error).toBeNull();
    expect(catcher.emails).toHaveLength(1);
  });
});
