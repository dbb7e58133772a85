/**
 * Crisis-aware coaching's pure rules (core/risk.ts): the types ruled out under risk, the helpline
 * text by language, and its place at the end of the message; SAFETY_RESOURCES as configured; the
 * sandbox's stand-in assessment of the fixture corpus.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadConfig } from "@/config";
import { buildCoachingContext, renderOutcomePrompt } from "@/core/coaching-context";
import { generatedMessageSchema, MESSAGE_MAX_LENGTH, MESSAGE_TYPES } from "@/core/coaching-message";
import {
  DEFAULT_SAFETY_RESOURCES,
  decideRiskRule,
  describeAcuteRiskOutcome,
  highestRisk,
  keepsUsualSchedule,
  RISK_LEVELS,
  RISK_RESTRICTED_TYPES,
  type RiskLevel,
  SUPPORTIVE_FALLBACK_TYPE,
  safetyResourceFor,
  withSafetyResource,
} from "@/core/risk";
import { sandboxRiskLevel } from "../../scripts/local-stack/llm-sandbox";
import { RISK_FIXTURES } from "../fixtures/risk/corpus";

const messageType = fc.constantFrom(...MESSAGE_TYPES);
const riskLevel = fc.constantFrom(...RISK_LEVELS);
const BASE_ENV = { NODE_ENV: "production", FIRESTORE_EMULATOR_HOST: "127.0.0.1:1" } as const;

describe("the risk rule on a draft's type", () => {
  it("never lets a challenge or a reminder through under an elevated or acute risk", () => {
    fc.assert(
      fc.property(messageType, riskLevel, fc.boolean(), (type, level, canRegenerate) => {
        const decision = decideRiskRule({ messageType: type, riskLevel: level, canRegenerate });
        const finalType = decision.kind === "relabel" ? decision.messageType : type;
        // A regenerated or refused draft is never sent.
        if (level !== "none" && decision.kind !== "regenerate" && decision.kind !== "refuse") {
          expect(RISK_RESTRICTED_TYPES).not.toContain(finalType);
        }
      }),
    );
  });

  it("leaves every draft as it is without risk, and every allowed type under risk", () => {
    fc.assert(
      fc.property(messageType, riskLevel, fc.boolean(), (type, level, canRegenerate) => {
        const decision = decideRiskRule({ messageType: type, riskLevel: level, canRegenerate });
        if (level === "none" || !RISK_RESTRICTED_TYPES.includes(type))
          expect(decision).toEqual({ kind: "accept" });
      }),
    );
  });

  it("regenerates a restricted type once, then relabels it check_in", () => {
    for (const type of RISK_RESTRICTED_TYPES) {
      expect(decideRiskRule({ messageType: type, riskLevel: "acute", canRegenerate: true }).kind).toBe(
        "regenerate",
      );
      expect(decideRiskRule({ messageType: type, riskLevel: "elevated", canRegenerate: false })).toEqual({
        kind: "relabel",
        messageType: SUPPORTIVE_FALLBACK_TYPE,
      });
    }
  });

  it("refuses a restricted type under acute risk when no regeneration is left: its content is not sent under another label", () => {
    for (const type of RISK_RESTRICTED_TYPES) {
      expect(decideRiskRule({ messageType: type, riskLevel: "acute", canRegenerate: false })).toMatchObject({
        kind: "refuse",
        reason: expect.stringContaining(type),
      });
    }
  });

  it("keeps the highest level a run assessed, whatever the order", () => {
    fc.assert(
      fc.property(fc.array(riskLevel, { maxLength: 5 }), (levels) => {
        const highest = highestRisk(levels);
        const rank = (level: RiskLevel) => RISK_LEVELS.indexOf(level);
        for (const level of levels) expect(rank(highest)).toBeGreaterThanOrEqual(rank(level));
        expect(highestRisk([...levels].reverse())).toBe(highest);
        if (levels.length === 0) expect(highest).toBe("none");
      }),
    );
  });

  it("keeps the usual schedule after an acute run, never retrying it early; other levels as before", () => {
    expect(keepsUsualSchedule("acute")).toBe(true);
    expect(keepsUsualSchedule("elevated")).toBe(false);
    expect(keepsUsualSchedule("none")).toBe(false);
    expect(keepsUsualSchedule(undefined)).toBe(false);
  });
});

describe("the helpline text", () => {
  const configured = {
    en: "If you are in crisis, call or text 988 (US).",
    es: "Llama al 024 (España).",
    default: "Call 112.",
  };

  it.each([
    ["en", configured.en],
    ["es", configured.es],
    ["es-MX", configured.es],
    ["de", configured.default],
  ])("takes the configured text for %s, then the configured default", (language, expected) => {
    expect(safetyResourceFor({ configured, language })).toBe(expected);
  });

  it("falls back to the neutral texts, in the user's language where there is one, when unset", () => {
    expect(safetyResourceFor({ configured: null, language: "es" })).toBe(DEFAULT_SAFETY_RESOURCES.es);
    expect(safetyResourceFor({ configured: null, language: "ja" })).toBe(DEFAULT_SAFETY_RESOURCES.default);
    expect(safetyResourceFor({ configured: { en: "988" }, language: "fr" })).toBe(
      DEFAULT_SAFETY_RESOURCES.fr,
    );
    expect(DEFAULT_SAFETY_RESOURCES.default).toMatch(/local emergency services/);
  });

  it("ends the message with the whole helpline text, within the message's length, cutting only the model's text", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 20, maxLength: MESSAGE_MAX_LENGTH }),
        fc.string({ minLength: 1, maxLength: 400 }),
        (messageContent, resource) => {
          const result = withSafetyResource({ messageContent, resource, maxLength: MESSAGE_MAX_LENGTH });
          expect(result.endsWith(`\n\n${resource}`)).toBe(true);
          expect(result.length).toBeLessThanOrEqual(MESSAGE_MAX_LENGTH);
        },
      ),
    );
    expect(
      withSafetyResource({ messageContent: "A short note.", resource: "Call 112.", maxLength: 100 }),
    ).toBe("A short note.\n\nCall 112.");
  });
});

describe("the helpline text, regional and appended once", () => {
  const regional = { "en-US": "Call or text 988.", "en-GB": "Samaritans 116 123.", "pt-BR": "CVV 188." };

  it("takes the region's text when the user's locale names the message's language: full tag, then primary, then default", () => {
    expect(safetyResourceFor({ configured: regional, language: "en", locale: "en-GB" })).toBe(
      regional["en-GB"],
    );
    expect(safetyResourceFor({ configured: regional, language: "pt", locale: "pt-BR" })).toBe(
      regional["pt-BR"],
    );
    // A locale of another language than the message's says nothing about the message's helpline.
    expect(safetyResourceFor({ configured: regional, language: "en", locale: "pt-BR" })).toBe(
      DEFAULT_SAFETY_RESOURCES.en,
    );
    expect(
      safetyResourceFor({ configured: { en: "988", default: "112" }, language: "en", locale: "en-AU" }),
    ).toBe("988");
    expect(safetyResourceFor({ configured: { default: "112" }, language: "ja", locale: "ja-JP" })).toBe(
      "112",
    );
  });

  it("never splits a surrogate pair where it cuts the model's text", () => {
    const resource = "x".repeat(400);
    const result = withSafetyResource({
      messageContent: "😀".repeat(600),
      resource,
      maxLength: MESSAGE_MAX_LENGTH,
    });
    expect(result.length).toBeLessThanOrEqual(MESSAGE_MAX_LENGTH);
    expect(result.endsWith(resource)).toBe(true);
    expect(/[\ud800-\udbff](?![\udc00-\udfff])/.test(result)).toBe(false);
    expect(/(?<![\ud800-\udbff])[\udc00-\udfff]/.test(result)).toBe(false);
  });

  it("does not append the helpline a second time when the message already ends with it", () => {
    const once = withSafetyResource({
      messageContent: "A short note.",
      resource: "Call 112.",
      maxLength: 100,
    });
    expect(withSafetyResource({ messageContent: once, resource: "Call 112.", maxLength: 100 })).toBe(once);
    expect(
      withSafetyResource({
        messageContent: "A short note. Call 112.",
        resource: "Call 112.",
        maxLength: 100,
      }),
    ).toBe("A short note.\n\nCall 112.");
  });
});

describe("the model's risk reason", () => {
  it("is accepted at any length: the engine cuts it to 200 characters, a long one never fails the generation", () => {
    const answer = {
      messageType: "check_in",
      messageContent: "A gentle note for you today.",
      pushNotificationText: "A note",
      riskLevel: "acute",
      riskReason: "r".repeat(900),
    };
    expect(generatedMessageSchema.safeParse(answer).success).toBe(true);
  });
});

describe("the operator's acute-risk flag", () => {
  it("says what the flagged run did: a supportive message sent, or nothing sent and why", () => {
    expect(describeAcuteRiskOutcome("sent")).toMatch(/supportive message with the helpline text was sent/);
    for (const ending of ["gate_failed", "generation_failed", "error", "quota_exceeded"] as const) {
      const text = describeAcuteRiskOutcome(ending);
      expect(text).toMatch(/no message was sent/i);
      expect(text).not.toMatch(/helpline text was sent/);
    }
    expect(describeAcuteRiskOutcome("gate_failed")).toContain("gate_failed");
    expect(describeAcuteRiskOutcome(undefined)).toMatch(/not recorded/);
  });
});

describe("the outcome prompt under risk", () => {
  const user = {
    uid: "u",
    email: "u@example.com",
    timezone: "UTC",
    coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
  } as const;
  const context = buildCoachingContext({ user: user as never, now: 0, entries: [], recentMessages: [] });

  it("tells the scorer the run's risk level, as the engine's element outside <user_data>", () => {
    const candidate = { messageType: "check_in", messageContent: "Write down one thing to finish." } as const;
    const acute = renderOutcomePrompt(context, { ...candidate, riskLevel: "acute" });
    expect(acute).toContain('<risk_assessment level="acute"/>');
    expect(acute.indexOf('<risk_assessment level="acute"/>')).toBeGreaterThan(acute.indexOf("</user_data>"));
    expect(renderOutcomePrompt(context, { ...candidate, riskLevel: "elevated" })).toContain(
      '<risk_assessment level="elevated"/>',
    );
    expect(renderOutcomePrompt(context, { ...candidate, riskLevel: "none" })).not.toContain(
      "risk_assessment",
    );
  });
});

describe("SAFETY_RESOURCES", () => {
  it("is null when unset or blank: the neutral texts apply, the feature stays on", () => {
    expect(loadConfig({ ...BASE_ENV }).safety.resources).toBeNull();
    expect(loadConfig({ ...BASE_ENV, SAFETY_RESOURCES: "  " }).safety.resources).toBeNull();
  });

  it("parses a table of texts per language, its tags in canonical case", () => {
    const config = loadConfig({
      ...BASE_ENV,
      SAFETY_RESOURCES: JSON.stringify({
        EN: "Call or text 988 (US).",
        "pt-br": "Ligue 188.",
        default: "Call 112.",
      }),
    });
    expect(config.safety.resources).toEqual({
      en: "Call or text 988 (US).",
      "pt-BR": "Ligue 188.",
      default: "Call 112.",
    });
  });

  it.each([
    ["not JSON", "call 988"],
    ["an empty table", "{}"],
    ["a text that is not a string", '{"en": 988}'],
    ["an empty text", '{"en": " "}'],
    ["a key that is no language", '{"english please": "988"}'],
    ["a text too long", JSON.stringify({ en: "x".repeat(401) })],
  ])("refuses %s, naming the variable", (_, value) => {
    expect(() => loadConfig({ ...BASE_ENV, SAFETY_RESOURCES: value })).toThrow(/SAFETY_RESOURCES/);
  });
});

describe("the fixture corpus and the sandbox's stand-in assessment", () => {
  it.each(RISK_FIXTURES.map((fixture) => [fixture.id, fixture] as const))(
    "answers %s at its expected level",
    (_, fixture) => {
      expect(sandboxRiskLevel(fixture.entries.join("\n"))).toBe(fixture.expectedRisk);
    },
  );

  it("covers every level in at least three languages", () => {
    for (const kind of ["neutral", "stressed", "elevated", "acute"] as const) {
      expect(RISK_FIXTURES.some((fixture) => fixture.kind === kind)).toBe(true);
    }
    expect(new Set(RISK_FIXTURES.map((fixture) => fixture.language)).size).toBeGreaterThanOrEqual(3);
  });
});
