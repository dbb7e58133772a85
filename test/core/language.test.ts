import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_LANGUAGE, detectLanguage, LANGUAGE_SAMPLE_ENTRIES, messageLanguage } from "@/core/language";
import { canonicalLocale, localeLanguage } from "@/core/locale";
import { parseUserDocument } from "@/core/user";

/** Two short journal entries per language, as a user would write them. */
const journals = {
  en: [
    "I felt tired today but the walk after lunch helped me think.",
    "Work was stressful and I could not sleep well last night.",
  ],
  es: [
    "Hoy me sentí cansado, pero el paseo después de comer me ayudó a pensar.",
    "El trabajo fue estresante y anoche no pude dormir bien.",
  ],
  de: [
    "Heute war ich müde, aber der Spaziergang nach dem Essen hat mir geholfen.",
    "Die Arbeit war stressig und ich konnte letzte Nacht nicht gut schlafen.",
  ],
  fr: [
    "Aujourd'hui j'étais fatigué, mais la promenade après le déjeuner m'a aidé à réfléchir.",
    "Le travail était stressant et je n'ai pas bien dormi cette nuit.",
  ],
  pt: [
    "Hoje eu estava cansado, mas a caminhada depois do almoço me ajudou a pensar.",
    "O trabalho foi estressante e não consegui dormir bem ontem à noite.",
  ],
  it: [
    "Oggi ero stanco, ma la passeggiata dopo pranzo mi ha aiutato a pensare.",
    "Il lavoro è stato stressante e stanotte non ho dormito bene.",
  ],
  ja: ["今日は疲れたけど、昼食後の散歩が考えるのに役立った。", "仕事がストレスで、昨夜はよく眠れなかった。"],
  ru: [
    "Сегодня я устал, но прогулка после обеда помогла мне подумать.",
    "Работа была напряжённой, и прошлой ночью я плохо спал.",
  ],
  ar: [
    "كنت متعبا اليوم لكن المشي بعد الغداء ساعدني على التفكير.",
    "كان العمل مرهقا ولم أستطع النوم جيدا الليلة الماضية.",
  ],
} as const satisfies Record<string, readonly [string, string]>;

const entriesOf = (texts: readonly string[]) => texts.map((content) => ({ content }));

describe("detectLanguage", () => {
  it.each(Object.entries(journals))("detects %s from two short entries", (language, texts) => {
    expect(detectLanguage(entriesOf(texts))).toBe(language);
  });

  it("reads the title with the content", () => {
    expect(
      detectLanguage([
        { title: "Un día largo", content: "Hoy fue difícil, pero al final hablé con mi hermana." },
      ]),
    ).toBe("es");
  });

  it("makes no guess from too little text", () => {
    expect(detectLanguage([])).toBeNull();
    expect(detectLanguage(entriesOf(["ok", "Gut.", "bien", "😊😊"]))).toBeNull();
    expect(detectLanguage(entriesOf(["Hoy fue un buen día."]))).toBeNull();
  });

  it("makes no guess when the user writes in two languages about equally", () => {
    expect(
      detectLanguage(entriesOf([journals.es[0], journals.en[0], journals.es[1], journals.en[1]])),
    ).toBeNull();
  });

  it("follows the language most of the recent text is in", () => {
    const entries = entriesOf([...journals.de, journals.de[0], journals.de[1], journals.en[0]]);
    expect(detectLanguage(entries)).toBe("de");
  });

  it(`looks only at the newest ${LANGUAGE_SAMPLE_ENTRIES} entries`, () => {
    const newest = Array.from(
      { length: LANGUAGE_SAMPLE_ENTRIES },
      (_, index) => journals.pt[index % 2 === 0 ? 0 : 1],
    );
    const older = Array.from({ length: 30 }, (_, index) => journals.en[index % 2 === 0 ? 0 : 1]);
    expect(detectLanguage(entriesOf([...newest, ...older]))).toBe("pt");
  });

  it("answers null or a two-letter primary subtag for any text", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ content: fc.string({ unit: "grapheme", maxLength: 200 }) }), { maxLength: 5 }),
        (entries) => {
          const language = detectLanguage(entries);
          expect(language === null || /^[a-z]{2}$/.test(language)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("localeLanguage", () => {
  it.each([
    ["es", "es"],
    ["es-MX", "es"],
    ["pt-BR", "pt"],
    ["pt_BR", "pt"],
    ["EN-us", "en"],
    ["zh-Hant-TW", "zh"],
    [" de-CH ", "de"],
    ["fil", "fil"],
  ])("reads %j as %j", (locale, language) => {
    expect(localeLanguage(locale)).toBe(language);
  });

  it.each([
    [""],
    ["english"],
    ["und"],
    ["12"],
    ["en-"],
    ["x-private"],
    ["<script>"],
    ["e".repeat(100)],
    [42],
    [null],
    [undefined],
    [{ language: "es" }],
    [["es"]],
  ])("ignores %j", (locale) => {
    expect(localeLanguage(locale)).toBeNull();
  });

  it.each([
    ["pt_br", "pt-BR"],
    ["EN-us", "en-US"],
    ["zh-hant-tw", "zh-Hant-TW"],
  ])("canonicalises %j as %j", (locale, canonical) => {
    expect(canonicalLocale(locale)).toBe(canonical);
  });

  it("never throws, whatever the app wrote", () => {
    fc.assert(
      fc.property(fc.anything(), (locale) => {
        const language = localeLanguage(locale);
        expect(language === null || /^[a-z]{2,3}$/.test(language)).toBe(true);
      }),
    );
  });
});

describe("messageLanguage", () => {
  it("takes a valid locale over what the entries are in", () => {
    expect(messageLanguage({ locale: "fr-CA", entries: entriesOf(journals.es) })).toEqual({
      language: "fr",
      source: "locale",
    });
  });

  it("detects from the entries when there is no locale", () => {
    expect(messageLanguage({ locale: undefined, entries: entriesOf(journals.ja) })).toEqual({
      language: "ja",
      source: "detected",
    });
  });

  it("ignores a junk locale and detects instead", () => {
    expect(messageLanguage({ locale: "spanish please", entries: entriesOf(journals.es) })).toEqual({
      language: "es",
      source: "detected",
    });
  });

  it("falls back to the default when neither says", () => {
    expect(messageLanguage({ locale: null, entries: entriesOf(["ok"]) })).toEqual({
      language: DEFAULT_LANGUAGE,
      source: "default",
    });
  });
});

describe("the user document's locale", () => {
  const user = {
    email: "lucia@example.com",
    timezone: "Europe/Madrid",
    coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "morning" },
  };

  it.each([
    ["es_ES", "es-ES"],
    ["fr", "fr"],
    [undefined, undefined],
    ["gibberish words", undefined],
    [42, undefined],
    [{ tag: "es" }, undefined],
  ])("reads locale %j as %j without making the document unreadable", (locale, expected) => {
    const snapshot = parseUserDocument("lucia", { ...user, locale });
    expect(snapshot.valid).toBe(true);
    if (snapshot.valid) expect(snapshot.user.locale).toBe(expected);
  });
});
