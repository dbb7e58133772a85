import { createOpenRouter } from "@openrouter/ai-sdk-provider";
import { APICallError, generateText, Output } from "ai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type LlmSandbox, startLlmSandbox } from "../../../scripts/local-stack/llm-sandbox";

const messageSchema = z.object({
  messageType: z.enum(["check_in", "encouragement", "challenge", "reminder"]),
  messageContent: z.string().min(20).max(1200),
  pushNotificationText: z.string().max(60),
  effectivenessRating: z.int().min(1).max(10),
  recommendedAction: z.enum(["SKIP_MESSAGE", "SEND_MESSAGE", "REVISE_MESSAGE"]),
});

let sandbox: LlmSandbox;
beforeAll(async () => {
  sandbox = await startLlmSandbox();
});
afterAll(async () => {
  await sandbox.stop();
});
beforeEach(() => {
  sandbox.requests.length = 0;
});

function model() {
  return createOpenRouter({ baseURL: sandbox.baseURL, apiKey: "sandbox-key" }).chat(
    "anthropic/claude-sonnet-4.6",
  );
}

describe("LLM sandbox, driven by the real AI SDK and OpenRouter provider", () => {
  it("answers structured output that follows the schema the client sent, the same each time", async () => {
    const ask = () =>
      generateText({
        model: model(),
        output: Output.object({ schema: messageSchema }),
        prompt: "Write a coaching message.",
      });
    const first = await ask();
    const second = await ask();
    expect(messageSchema.parse(first.output)).toEqual(second.output);
    expect(first.output.recommendedAction).toBe("SEND_MESSAGE");
    expect(first.usage.inputTokens).toBeGreaterThan(0);
    const received = sandbox.requests[0];
    expect(received?.authorization).toBe("Bearer sandbox-key");
    expect(received?.body.response_format).toMatchObject({ type: "json_schema" });
  });

  it("serves queued faults: an HTTP 500 reaches the caller as an API error", async () => {
    sandbox.queueFaults([{ kind: "status", status: 500 }]);
    const failure = await generateText({ model: model(), prompt: "hello", maxRetries: 0 }).catch(
      (error: unknown) => error,
    );
    expect(APICallError.isInstance(failure)).toBe(true);
    expect((failure as APICallError).statusCode).toBe(500);
  });

  it("serves schema-violating content when told to, and the SDK rejects it", async () => {
    sandbox.queueFaults([{ kind: "content", content: '{"messageType":"lecture"}' }]);
    await expect(
      generateText({
        model: model(),
        output: Output.object({ schema: messageSchema }),
        prompt: "x",
        maxRetries: 0,
      }),
    ).rejects.toThrow();
  });
});
