/**
 * The language a user's coaching message is written in. Pure: the caller passes the entries.
 *
 * Detection uses `eld` (Nito-ELD, maintained, zero dependencies, ESM with types) with its `small`
 * n-gram table (~1.6 MB, server-side only). Chosen over the alternatives on the short texts a
 * journal holds: `franc-min` (trigrams, 82 languages) took one-sentence Spanish for Portuguese and
 * Russian for Serbian in our trial; `tinyld` got them right too but reports a vaguer confidence.
 * eld answers ISO 639-1 codes, which are BCP 47 primary language subtags as they stand, and says
 * whether each verdict is reliable. 60 languages, among them every one in `src/core/email-strings.ts`.
 *
 * An explicit `users/{uid}.locale` (written by the journaling app) always wins over detection;
 * without either the message is in `DEFAULT_LANGUAGE`.
 */
import { eld } from "eld/small";
import { localeLanguage } from "./locale";

export const DEFAULT_LANGUAGE = "en";
/** Only the newest entries speak for the user's current language. */
export const LANGUAGE_SAMPLE_ENTRIES = 10;
/** An entry with fewer letters than this ("ok", "Gut.") is too short to vote. */
export const MIN_ENTRY_LETTERS = 12;
/** Below this many letters across the voting entries, detection is a guess: none is made. */
export const MIN_DETECTION_LETTERS = 40;
/**
 * The winning language's share of the voting letters. A user who writes half in Spanish and half
 * in English is "mixed": no language is imposed, the default applies.
 */
export const DOMINANT_LANGUAGE_SHARE = 0.7;

export interface LanguageSample {
  content: string;
  title?: string;
}

function letterCount(text: string): number {
  return text.match(/\p{L}/gu)?.length ?? 0;
}

/**
 * The BCP 47 primary language subtag (`"es"`, `"ja"`) the user writes in, judged from their
 * `entries` (newest first; only the first `LANGUAGE_SAMPLE_ENTRIES` count), or null when unsure:
 * too little text, or no language holding `DOMINANT_LANGUAGE_SHARE` of it. Each entry long enough
 * votes with its number of letters for the language eld reliably finds in it. The caller leaves
 * out the engine's own coaching entries, which are in the language the engine chose.
 */
export function detectLanguage(entries: readonly LanguageSample[]): string | null {
  const votes = new Map<string, number>();
  let voted = 0;
  for (const entry of entries.slice(0, LANGUAGE_SAMPLE_ENTRIES)) {
    const text = entry.title ? `${entry.title}\n${entry.content}` : entry.content;
    const letters = letterCount(text);
    if (letters < MIN_ENTRY_LETTERS) continue;
    const verdict = eld.detect(text);
    if (verdict.language === "" || !verdict.isReliable()) continue;
    votes.set(verdict.language, (votes.get(verdict.language) ?? 0) + letters);
    voted += letters;
  }
  if (voted < MIN_DETECTION_LETTERS) return null;
  const [language, weight] = [...votes].reduce((best, vote) => (vote[1] > best[1] ? vote : best));
  return weight / voted >= DOMINANT_LANGUAGE_SHARE ? language : null;
}

export type MessageLanguageSource = "locale" | "detected" | "default";

export interface MessageLanguage {
  /** BCP 47 primary language subtag, e.g. `"es"`. */
  language: string;
  source: MessageLanguageSource;
}

/**
 * The language to write a user's next message in: their `locale` when it is valid (the app knows
 * best), else the language detected in their recent `entries`, else `DEFAULT_LANGUAGE`.
 */
export function messageLanguage({
  locale,
  entries,
}: {
  locale: unknown;
  entries: readonly LanguageSample[];
}): MessageLanguage {
  const fromLocale = localeLanguage(locale);
  if (fromLocale !== null) return { language: fromLocale, source: "locale" };
  const detected = detectLanguage(entries);
  if (detected !== null) return { language: detected, source: "detected" };
  return { language: DEFAULT_LANGUAGE, source: "default" };
}
