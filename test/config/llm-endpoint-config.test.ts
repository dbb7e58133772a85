/**
 * OPENROUTER_BASE_URL, like every other optional setting, counts as unset when empty: a deployment
 * that clears it (a blank value in Vercel's form) talks to OpenRouter, instead of failing every
 * route at start-up with "Invalid URL".
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "@/config";

const BASE_ENV = { NODE_ENV: "production", FIRESTORE_EMULATOR_HOST: "127.0.0.1:1" } as const;

describe("OPENROUTER_BASE_URL", () => {
  it.each(["", "   "])("empty (%j) means OpenRouter's own endpoint", (value) => {
    expect(loadConfig({ ...BASE_ENV, OPENROUTER_BASE_URL: value }).llm.baseURL).toBe(
      "https://openrouter.ai/api/v1",
    );
  });

  it("unset means OpenRouter's own endpoint", () => {
    expect(loadConfig({ ...BASE_ENV }).llm.baseURL).toBe("https://openrouter.ai/api/v1");
  });

  it("a URL is taken as it is", () => {
    expect(loadConfig({ ...BASE_ENV, OPENROUTER_BASE_URL: "http://127.0.0.1:4010/api/v1" }).llm.baseURL).toBe(
      "http://127.0.0.1:4010/api/v1",
    );
  });

  it("anything else is refused, naming the variable", () => {
    expect(() => loadConfig({ ...BASE_ENV, OPENROUTER_BASE_URL: "not a url" })).toThrow(
      /OPENROUTER_BASE_URL/,
    );
  });
});
