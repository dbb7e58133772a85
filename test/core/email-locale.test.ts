import { describe, expect, it } from "vitest";
import { emailLocaleFor } from "@/core/email-strings";

describe("the locale a coaching email speaks", () => {
  it.each([
    ["the message's language", "es", undefined, "es"],
    ["the user's locale when it names the message's language (a regional date)", "pt", "pt-BR", "pt-BR"],
    ["the message's language when the locale changed since it was written", "es", "de-DE", "es"],
    ["English for a message stored before languages were recorded", undefined, undefined, "en"],
    ["English, refined by an English locale, for an old message", undefined, "en-GB", "en-GB"],
  ] as const)("is %s", (_case, messageLanguage, userLocale, expected) => {
    expect(emailLocaleFor({ messageLanguage, userLocale })).toBe(expected);
  });
});
