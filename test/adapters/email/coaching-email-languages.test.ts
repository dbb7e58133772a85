import { describe, expect, it } from "vitest";
import { renderCoachingEmail } from "@/adapters/email/coaching-email";
import {
  EMAIL_LANGUAGES,
  emailLanguageFor,
  emailStrings,
  formatEmailDateTime,
  languageFromAcceptLanguage,
} from "@/core/email-strings";
import type { CoachingEmailContent } from "@/pipeline/channel-ports";

const content: CoachingEmailContent = {
  displayName: "Lucía",
  messageContent: "Un mensaje del modelo.\n\nSegundo párrafo.",
  pushNotificationText: null,
  journalEntryUrl: "https://journal.example/entries/1",
  preferencesUrl: "https://journal.example/settings",
  unsubscribeUrl: "https://coach.example/unsubscribe?token=abc",
};

/** 2026-11-30T07:00:00Z: 08:00 in Madrid. */
const writtenAt = Date.UTC(2026, 10, 30, 7, 0);

const expected = {
  en: {
    greeting: "Hi Lucía,",
    button: "Open it in your journal",
    unsubscribe: "unsubscribe from these emails",
    subject: "A note from your journaling coach",
    date: "Monday, November 30, 2026",
  },
  es: {
    greeting: "Hola, Lucía:",
    button: "Ábrelo en tu diario",
    unsubscribe: "darte de baja de estos correos",
    subject: "Una nota de tu coach de escritura",
    date: "lunes, 30 de noviembre de 2026",
  },
  de: {
    greeting: "Hallo Lucía,",
    button: "In deinem Tagebuch öffnen",
    unsubscribe: "diese E-Mails abbestellen",
    subject: "Eine Notiz von deinem Tagebuch-Coach",
    date: "Montag, 30. November 2026",
  },
  fr: {
    greeting: "Bonjour Lucía,",
    button: "L'ouvrir dans votre journal",
    unsubscribe: "vous désabonner de ces e-mails",
    subject: "Un mot de votre coach d'écriture",
    date: "lundi 30 novembre 2026",
  },
  pt: {
    greeting: "Olá, Lucía,",
    button: "Abrir no seu diário",
    unsubscribe: "cancelar a inscrição nestes e-mails",
    subject: "Uma nota do seu coach de escrita",
    date: "segunda-feira, 30 de novembro de 2026",
  },
} as const;

describe("coaching email in the user's language", () => {
  it.each(EMAIL_LANGUAGES)("renders greeting, button, footer and subject in %s", async (language) => {
    const email = await renderCoachingEmail({ ...content, language, writtenAt, timeZone: "Europe/Madrid" });
    const words = expected[language];
    const strings = emailStrings(language);
    expect(email.html).toContain(`lang="${language}"`);
    // The plain-text part shouts headings; the greeting is checked in the HTML.
    expect(email.html).toContain(words.greeting);
    expect(email.text).toContain(words.button);
    expect(email.text).toContain(strings.footerReason);
    expect(email.text).toContain(strings.changePreferences);
    expect(email.text).toContain(words.unsubscribe);
    expect(email.subject).toBe(words.subject);
    expect(email.text).toContain(words.date);
    expect(email.text).toContain("Un mensaje del modelo.");
  });

  it("shows the time in the user's zone and language", async () => {
    const email = await renderCoachingEmail({
      ...content,
      language: "de",
      writtenAt,
      timeZone: "Europe/Berlin",
    });
    expect(email.text).toContain("08:00");
    const inEnglish = await renderCoachingEmail({ ...content, writtenAt, timeZone: "America/New_York" });
    expect(inEnglish.text).toContain("Monday, November 30, 2026");
    expect(inEnglish.text).toContain("2:00");
  });

  it("stays English, without a date line, when no language or time is given", async () => {
    const email = await renderCoachingEmail(content);
    expect(email.html).toContain('lang="en"');
    expect(email.html).toContain("Hi Lucía,");
    expect(email.text).toContain("Open it in your journal");
    expect(email.text).not.toContain("2026");
  });

  it("falls back to English for a language not in the catalogue, keeping the message as written", async () => {
    const email = await renderCoachingEmail({
      ...content,
      language: "ja",
      messageContent: "今日もお疲れさまでした。",
    });
    expect(email.text).toContain("Open it in your journal");
    expect(email.text).toContain("今日もお疲れさまでした。");
    expect(email.html).toContain('lang="en"');
  });

  it("greets without a name in every language", async () => {
    for (const language of EMAIL_LANGUAGES) {
      const email = await renderCoachingEmail({ ...content, displayName: null, language });
      expect(email.html).toContain(emailStrings(language).greeting(null));
    }
  });
});

describe("email language choice", () => {
  it.each([
    ["es", "es"],
    ["pt-BR", "pt"],
    ["DE_at", "de"],
    ["ja", "en"],
    ["", "en"],
    [null, "en"],
    [undefined, "en"],
  ])("reads %j as %j", (language, catalogue) => {
    expect(emailLanguageFor(language)).toBe(catalogue);
  });

  it.each([
    ["es-ES,es;q=0.9,en;q=0.8", "es"],
    ["en;q=0.5, fr;q=0.9", "fr"],
    ["ja, pt-BR;q=0.8, en;q=0.7", "pt"],
    ["de;q=0, es", "es"],
    ["*", "en"],
    ["zz, xx-YY", "en"],
    ["", "en"],
    [null, "en"],
  ])("Accept-Language %j picks %j", (header, language) => {
    expect(languageFromAcceptLanguage(header)).toBe(language);
  });

  it("formats in UTC rather than failing on an unknown time zone", () => {
    expect(formatEmailDateTime({ at: writtenAt, language: "es", timeZone: "Mars/Olympus" })).toContain(
      "7:00",
    );
  });
});
