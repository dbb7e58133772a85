import { describe, expect, it } from "vitest";
import {
  buildCoachingContext,
  type JournalEntry,
  renderGenerationPrompt,
  renderOutcomePrompt,
} from "@/core/coaching-context";
import type { CoachingUser } from "@/core/user";

const NOW = Date.parse("2026-11-24T12:00:00Z");
const HOUR = 3_600_000;
const user: CoachingUser = {
  uid: "u1",
  email: "u1@example.com",
  displayName: "Ada",
  timezone: "Europe/Madrid",
  coachingConfig: {
    enableCoachingMessages: true,
    frequency: "daily",
    timePreference: "afternoon",
  },
};

const spanish: JournalEntry[] = [
  "Hoy me sentí cansada después del trabajo, pero salí a caminar con mi hermana por el parque.",
  "Quiero dormir mejor y dejar el teléfono antes de las once de la noche.",
  "El proyecto se retrasó otra vez y no sé cómo decírselo a mi jefe sin ponerme nerviosa.",
].map((content, index) => ({ id: `e${index}`, content, createdAt: NOW - (index + 1) * 24 * HOUR }));

const candidate = {
  messageType: "check_in" as const,
  messageContent: "¿Qué pequeño paso podrías dar hoy para dormir mejor?",
  pushNotificationText: "Un paso para dormir mejor",
};

describe("the message's language in the coaching context", () => {
  it("detects Spanish from the entries the context holds, and both prompts ask for Spanish", () => {
    const context = buildCoachingContext({ user, now: NOW, entries: spanish, recentMessages: [] });
    expect(context.language).toEqual({ language: "es", source: "detected" });
    const generation = renderGenerationPrompt(context);
    expect(generation).toContain('<message_language tag="es">Spanish</message_language>');
    // An instruction of the engine's, outside the user's data.
    expect(generation.indexOf("<message_language")).toBeGreaterThan(generation.indexOf("</user_data>"));
    expect(renderOutcomePrompt(context, candidate)).toContain(
      '<message_language tag="es">Spanish</message_language>',
    );
  });

  it("lets the user's locale win over detection, and names the language it asks for", () => {
    const context = buildCoachingContext({
      user: { ...user, locale: "de-AT" },
      now: NOW,
      entries: spanish,
      recentMessages: [],
    });
    expect(context.language).toEqual({ language: "de", source: "locale" });
    expect(renderGenerationPrompt(context)).toContain('<message_language tag="de">German</message_language>');
  });

  it("falls back to English when there is too little text to tell", () => {
    const context = buildCoachingContext({
      user,
      now: NOW,
      entries: [{ id: "e1", content: "ok", createdAt: NOW - HOUR }],
      recentMessages: [],
    });
    expect(context.language).toEqual({ language: "en", source: "default" });
    expect(renderGenerationPrompt(context)).toContain(
      '<message_language tag="en">English</message_language>',
    );
  });
});
