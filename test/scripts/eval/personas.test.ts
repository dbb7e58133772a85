import { describe, expect, it } from "vitest";
import { detectLanguage } from "@/core/language";
import { EVAL_LANGUAGES, EVAL_PERSONAS } from "../../../scripts/eval/personas";
import { sandboxRiskLevel } from "../../../scripts/local-stack/llm-sandbox";

describe("the eval's personas", () => {
  it("are at least 20 users with unique ids, 2–10 entries and a few previous messages each", () => {
    expect(EVAL_PERSONAS.length).toBeGreaterThanOrEqual(20);
    expect(new Set(EVAL_PERSONAS.map((persona) => persona.id)).size).toBe(EVAL_PERSONAS.length);
    for (const persona of EVAL_PERSONAS) {
      expect(persona.entries.length, persona.id).toBeGreaterThanOrEqual(2);
      expect(persona.entries.length, persona.id).toBeLessThanOrEqual(10);
      expect(persona.previousMessages.length, persona.id).toBeGreaterThanOrEqual(2);
    }
  });

  it("cover every eval language at several risk levels", () => {
    for (const language of EVAL_LANGUAGES) {
      const levels = new Set(
        EVAL_PERSONAS.filter((persona) => persona.language === language).map(
          (persona) => persona.expectedRisk,
        ),
      );
      expect(levels.size, language).toBeGreaterThanOrEqual(2);
    }
    const levels = new Set(EVAL_PERSONAS.map((persona) => persona.expectedRisk));
    expect([...levels].toSorted()).toEqual(["acute", "elevated", "none"]);
  });

  it("carry the risk the sandbox reads in their entries", () => {
    for (const persona of EVAL_PERSONAS)
      expect(sandboxRiskLevel(persona.entries.join("\n")), persona.id).toBe(persona.expectedRisk);
  });

  it("write in their language, as the detector reads them, unless a locale decides", () => {
    for (const persona of EVAL_PERSONAS) {
      const detected = detectLanguage(persona.entries.toReversed().map((content) => ({ content })));
      if (persona.locale) expect(persona.locale.split("-")[0], persona.id).toBe(persona.language);
      else expect(detected, persona.id).toBe(persona.language);
      for (const message of persona.previousMessages)
        expect(detectLanguage([{ content: message.text }]), `${persona.id}: ${message.text}`).toBe(
          persona.language,
        );
    }
  });
});
