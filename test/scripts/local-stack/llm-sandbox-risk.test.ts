/**
 * The LLM sandbox's stand-in risk assessment over HTTP, as the engine's generation call sees it:
 * the level the prompt's journal entries carry (by the fixture corpus's cue phrases), a reason only
 * when there is risk, supportive text under risk, and nothing read from outside the entries.
 */
import { createOpenRouter } from "@openrouter/ai-sdk-provider";
import { generateText, Output } from "ai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatedMessageSchema } from "@/core/coaching-message";
import { type LlmSandbox, startLlmSandbox } from "../../../scripts/local-stack/llm-sandbox";
import { RISK_FIXTURES } from "../../fixtures/risk/corpus";

let sandbox: LlmSandbox;
beforeAll(async () => {
  sandbox = await startLlmSandbox();
});
afterAll(async () => {
  await sandbox.stop();
});

async function generate(prompt: string) {
  const result = await generateText({
    model: createOpenRouter({ baseURL: sandbox.baseURL, apiKey: "sandbox-key" }).chat("test/coach"),
    output: Output.object({ schema: generatedMessageSchema }),
    prompt,
  });
  return generatedMessageSchema.parse(result.output);
}

/** A generation prompt's shape (core/coaching-context.ts): entries, then recent messages. */
const promptWith = (entries: readonly string[], recentMessage = "") =>
  [
    "Write the next coaching message for this user.",
    "<user_data>",
    ...entries.map((entry) => `<journal_entry written="2026-11-29T20:00">\n${entry}\n</journal_entry>`),
    `<recent_coaching_messages count="1">\n<coaching_message type="check_in">${recentMessage}</coaching_message>\n</recent_coaching_messages>`,
    "</user_data>",
  ].join("\n");

describe("LLM sandbox: the risk a prompt's entries carry", () => {
  it.each(RISK_FIXTURES.map((fixture) => [fixture.id, fixture] as const))(
    "answers %s at its expected level, the same each time",
    async (_, fixture) => {
      const answer = await generate(promptWith(fixture.entries));
      expect(answer.riskLevel).toBe(fixture.expectedRisk);
      expect(answer.riskReason === "").toBe(fixture.expectedRisk === "none");
      expect(await generate(promptWith(fixture.entries))).toEqual(answer);
    },
  );

  it("reads the entries only: a helpline text in a recent coaching message is no risk", async () => {
    const answer = await generate(
      promptWith(["Baked bread with my son this afternoon."], "If you feel hopeless, call 988."),
    );
    expect(answer.riskLevel).toBe("none");
  });
});
