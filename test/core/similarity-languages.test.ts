import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkNovelty, normaliseText, SIMILARITY_THRESHOLD, textSimilarity } from "@/core/similarity";

/**
 * Novelty across languages: a near-duplicate is caught and an unrelated message passes whatever
 * the script, including those written without spaces between words (Japanese, Chinese, Thai).
 */
const cases = [
  {
    language: "es",
    message: "Hoy escribiste que el paseo por la mañana te ayudó a pensar con más calma.",
    reworded: "Hoy escribiste que el paseo por la mañana te ayudó a pensar con calma.",
    unrelated: "¿Qué pequeña cosa podrías hacer esta semana para descansar mejor por la noche?",
  },
  {
    language: "de",
    message: "Du hast geschrieben, dass dir der Spaziergang am Morgen geholfen hat, ruhiger zu denken.",
    reworded: "Du hast geschrieben, dass dir der Spaziergang am Morgen geholfen hat, ruhig zu denken.",
    unrelated: "Welche kleine Gewohnheit würde dir diese Woche helfen, abends besser zu schlafen?",
  },
  {
    language: "fr",
    message: "Tu as écrit que la promenade du matin t'a aidé à réfléchir plus sereinement.",
    reworded: "Tu as écrit que la promenade du matin t'a aidé à réfléchir sereinement.",
    unrelated: "Quelle petite habitude pourrait t'aider à mieux dormir cette semaine ?",
  },
  {
    language: "ru",
    message: "Вы написали, что утренняя прогулка помогла вам спокойнее думать о работе.",
    reworded: "Вы написали, что утренняя прогулка помогла вам спокойно думать о работе.",
    unrelated: "Какая маленькая привычка поможет вам лучше спать на этой неделе?",
  },
  {
    language: "ar",
    message: "كتبت أن المشي في الصباح ساعدك على التفكير بهدوء في عملك اليوم.",
    reworded: "كتبت أن المشي في الصباح ساعدك على التفكير بهدوء في عملك.",
    unrelated: "ما العادة الصغيرة التي قد تساعدك على النوم بشكل أفضل هذا الأسبوع؟",
  },
  {
    language: "hi",
    message: "आपने लिखा कि सुबह की सैर ने आपको काम के बारे में शांति से सोचने में मदद की।",
    reworded: "आपने लिखा कि सुबह की सैर ने आपको काम के बारे में शांत होकर सोचने में मदद की।",
    unrelated: "इस हफ्ते बेहतर नींद के लिए कौन सी छोटी आदत आपकी मदद कर सकती है?",
  },
  {
    language: "ja",
    message: "朝の散歩が仕事について落ち着いて考える助けになったと書いていましたね。",
    reworded: "朝の散歩が仕事について落ち着いて考える助けになったと書いていました。",
    unrelated: "今週もっとよく眠るために、どんな小さな習慣を始められそうですか？",
  },
  {
    language: "zh",
    message: "你写到早上的散步帮助你更冷静地思考工作上的事情。",
    reworded: "你写到早上的散步帮助你冷静地思考工作上的事情。",
    unrelated: "这周有什么小习惯可以帮助你晚上睡得更好？",
  },
  {
    language: "th",
    message: "คุณเขียนว่าการเดินตอนเช้าช่วยให้คุณคิดเรื่องงานได้อย่างสงบมากขึ้น",
    reworded: "คุณเขียนว่าการเดินตอนเช้าช่วยให้คุณคิดเรื่องงานได้อย่างสงบ",
    unrelated: "นิสัยเล็กๆ อะไรที่จะช่วยให้คุณนอนหลับได้ดีขึ้นในสัปดาห์นี้",
  },
] as const;

describe("similarity across languages", () => {
  it.each(cases)("catches a light rewording in $language", ({ message, reworded }) => {
    expect(textSimilarity(message, reworded)).toBeGreaterThanOrEqual(SIMILARITY_THRESHOLD);
    const verdict = checkNovelty({
      candidate: { messageType: "check_in", messageContent: reworded },
      recent: [{ messageType: "encouragement", messageContent: message }],
    });
    expect(verdict.novel).toBe(false);
  });

  it.each(cases)("lets an unrelated message through in $language", ({ message, unrelated }) => {
    expect(textSimilarity(message, unrelated)).toBeLessThan(0.3);
    const verdict = checkNovelty({
      candidate: { messageType: "check_in", messageContent: unrelated },
      recent: [{ messageType: "encouragement", messageContent: message }],
    });
    expect(verdict.novel).toBe(true);
  });

  it.each(cases)("scores identical text 1 in $language", ({ message }) => {
    expect(textSimilarity(message, message)).toBe(1);
  });

  it("folds accents and case in Latin script, so an accent slip is not novelty", () => {
    expect(normaliseText("Mañana, ÉTÉ à Zürich")).toBe("manana ete a zurich");
    expect(textSimilarity("Pensá en la mañana", "Pensa en la manana")).toBe(1);
  });

  it("keeps the vowel signs of Indic scripts, so different words stay different", () => {
    // कि (that) and का (of) differ only by their vowel sign; folding it away merges them.
    expect(normaliseText("कि")).not.toBe(normaliseText("का"));
  });

  it("keeps letters of every script", () => {
    expect(normaliseText("Привет, мир!")).toBe("привет мир");
    expect(normaliseText("مرحبا، يا عالم")).toBe("مرحبا يا عالم");
  });

  it("is symmetric, within [0, 1] and 1 on itself for text in any script", () => {
    const text = fc.string({ unit: "grapheme", maxLength: 80 });
    fc.assert(
      fc.property(text, text, (first, second) => {
        const forward = textSimilarity(first, second);
        expect(forward).toBeGreaterThanOrEqual(0);
        expect(forward).toBeLessThanOrEqual(1);
        expect(textSimilarity(second, first)).toBeCloseTo(forward, 10);
        expect(textSimilarity(first, first)).toBe(1);
      }),
      { numRuns: 300 },
    );
  });
});

describe("normalisation on hostile text", () => {
  // A long run of combining marks after a letter that is not Latin, Greek or Cyrillic (or after a
  // digit or a space): the accent folding's look-behind scanned back over the whole run at every
  // mark, quadratic (20,000 marks took about 6 s).
  it("keeps time linear on a long run of combining marks outside the folded scripts", () => {
    const marks = "\u0301".repeat(20_000);
    const started = performance.now();
    for (const lead of ["1", " ", "क", "a"]) normaliseText(`${lead}${marks} end`);
    expect(performance.now() - started).toBeLessThan(500);
    expect(normaliseText(`e${"\u0301".repeat(5)}te`)).toBe("ete");
  });
});
