import { afterEach, describe, expect, it, vi } from "vitest";
import { AppError } from "@/core/errors";
import { logger, redactSecrets } from "@/logger";

/** The JSON line the logger wrote through `method`. */
function loggedLine(method: "log" | "warn" | "error"): Record<string, unknown> {
  const spy = vi.mocked(console[method]);
  expect(spy).toHaveBeenCalledTimes(1);
  return JSON.parse(String(spy.mock.calls[0]?.[0])) as Record<string, unknown>;
}

describe("logger", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("logs an AppError's cause chain with each message and code", () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const vendor = Object.assign(new Error("14 UNAVAILABLE: connection reset"), { code: 14 });
    const wrapped = new Error("read processing state failed", { cause: vendor });
    logger.error("run failed", {
      error: new AppError("unavailable:firestore", "Firestore is unavailable", { cause: wrapped }),
    });
    expect(loggedLine("error").error).toEqual({
      name: "AppError",
      message: "Firestore is unavailable",
      code: "unavailable:firestore",
      cause: {
        name: "Error",
        message: "read processing state failed",
        cause: { name: "Error", message: "14 UNAVAILABLE: connection reset", code: 14 },
      },
    });
  });

  it("logs a cause that is not an Error as a short string", () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    logger.warn("odd failure", { error: new Error("outer", { cause: { status: 503 } }) });
    expect(loggedLine("warn").error).toEqual({
      name: "Error",
      message: "outer",
      cause: { message: '{"status":503}' },
    });
  });

  it("stops a cyclic or very deep cause chain", () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const first = new Error("first");
    const second = new Error("second", { cause: first });
    first.cause = second;
    logger.error("cycle", { error: first });
    const line = JSON.stringify(loggedLine("error"));
    expect(line).toContain('"message":"second"');
    expect(line.length).toBeLessThan(2_000);
  });

  it("never logs a bearer token or an API key that a vendor put in a message", () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const vendor = new Error("401 for Authorization: Bearer sk-or-v1-0123456789abcdef0123456789abcdef");
    logger.error("call failed", {
      error: new AppError("internal:llm", "LLM call failed", { cause: vendor }),
    });
    const line = JSON.stringify(loggedLine("error"));
    expect(line).not.toContain("0123456789abcdef");
    expect(line).toContain("[redacted]");
  });
});

describe("logger context values", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("redacts a credential in a string value and keeps other values as they are", () => {
    vi.spyOn(console, "log").mockImplementation(() => {});
    logger.info("key check", {
      reason: "OpenRouter said: invalid key sk-or-v1-abcdef123456",
      uid: "u1",
      attempts: 2,
    });
    expect(loggedLine("log")).toMatchObject({
      reason: "OpenRouter said: invalid key [redacted]",
      uid: "u1",
      attempts: 2,
    });
  });
});

describe("redactSecrets", () => {
  it.each([
    ["Authorization: Bearer abc.def-123", "Authorization: Bearer [redacted]"],
    ["bad key sk-or-v1-abcdef123456", "bad key [redacted]"],
    ["resend re_AbCdEf123456 refused", "resend [redacted] refused"],
    ["GET /v1?api_key=hunter2&x=1", "GET /v1?api_key=[redacted]&x=1"],
    ["14 UNAVAILABLE: connection reset", "14 UNAVAILABLE: connection reset"],
  ])("turns %j into %j", (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
  });
});

describe("logger redaction gaps (review)", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("redacts credentials in strings nested in objects and arrays of the context", () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    logger.warn("delivery failed", {
      detail: { reason: "401 Authorization: Bearer abc.def-123456", attempts: 2 },
      responses: ["bad key sk-or-v1-abcdef123456"],
    });
    const line = loggedLine("warn");
    expect(JSON.stringify(line)).not.toContain("abc.def-123456");
    expect(JSON.stringify(line)).not.toContain("abcdef123456");
    expect(line.detail).toEqual({ reason: "401 Authorization: Bearer [redacted]", attempts: 2 });
  });

  it("logs an error nested in the context as an error, not as {}", () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    logger.error("batch failed", { failures: [new Error("14 UNAVAILABLE: sk-or-v1-abcdef123456")] });
    expect(loggedLine("error").failures).toEqual([{ name: "Error", message: "14 UNAVAILABLE: [redacted]" }]);
  });

  it("never logs an email address, a JSON-quoted key or an x-api-key header a vendor echoed", () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const vendor = new Error(
      'You can only send testing emails to your own address (jane.doe+x@example.co.uk); {"api_key":"hunter2"} x-api-key: s3cr3tvalue',
    );
    logger.error("email failed", { error: vendor, reason: "rejected for jane.doe+x@example.co.uk" });
    const line = JSON.stringify(loggedLine("error"));
    expect(line).not.toContain("jane.doe");
    expect(line).not.toContain("hunter2");
    expect(line).not.toContain("s3cr3tvalue");
  });
});

describe("logger never throws (review)", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("writes a line for a context JSON cannot encode (a BigInt, a cycle) instead of throwing", () => {
    vi.spyOn(console, "log").mockImplementation(() => {});
    class Node {
      self: Node = this;
    }
    expect(() => logger.info("odd context", { count: 10n, node: new Node(), uid: "u1" })).not.toThrow();
    expect(loggedLine("log")).toMatchObject({ level: "info", message: "odd context", uid: "u1" });
  });
});
