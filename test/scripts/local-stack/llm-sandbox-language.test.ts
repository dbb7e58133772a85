import { createOpenRouter } from "@openrouter/ai-sdk-provider";
import { generateText, Output } from "ai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { type LlmSandbox, startLlmSandbox } from "../../../scripts/local-stack/llm-sandbox";

const messageSchema = z.object({
  messageContent: z.string().min(20),
  pushNotificationText: z.string().max(120),
});

let sandbox: LlmSandbox;
beforeAll(async () => {
  sandbox = await startLlmSandbox();
});
afterAll(async () => {
  await sandbox.stop();
});

async function ask(prompt: string) {
  const result = await generateText({
    model: createOpenRouter({ baseURL: sandbox.baseURL, apiKey: "sandbox-key" }).chat("test/coach"),
    output: Output.object({ schema: messageSchema }),
    prompt,
  });
  return messageSchema.parse(result.output);
}

const asking = (tag: string, name: string) =>
  `Write the next coaching message.\n\n<message_language tag="${tag}">${name}</message_language>`;

describe("LLM sandbox: the language a prompt asks for", () => {
  it.each([
    ["es", "Spanish", /[áéíóúñ¿]|\b(tu|tus|qué|una?)\b/],
    ["de", "German", /\b(du|dein|deine|dich|dir|was|wo)\b/i],
    ["fr", "French", /\b(tu|ton|ta|tes|que|qu'|est)\b/i],
    ["pt", "Portuguese", /\b(você|que|o|a)\b/],
  ])(
    "answers a prompt asking for %s with a canned %s text, the same each time",
    async (tag, name, pattern) => {
      const first = await ask(asking(tag, name));
      expect(first.messageContent).toMatch(pattern);
      expect(first.messageContent).not.toMatch(/\byou\b/i);
      expect(await ask(asking(tag, name))).toEqual(first);
    },
  );

  it("answers in English when the prompt asks for no language or one it has no texts in", async () => {
    expect((await ask("Write the next coaching message.")).messageContent).toMatch(/\byou\b/i);
    expect((await ask(asking("ja", "Japanese"))).messageContent).toMatch(/\byou\b/i);
  });
});
