/**
 * `users/{uid}.locale`: an optional BCP 47 tag the journaling app may write. Pure and small (no
 * language detector here), so the user document's parser can use it on every read.
 */

/** Longer than any real BCP 47 tag; a longer string is not looked at. */
const MAX_LOCALE_LENGTH = 64;

/**
 * `locale` as a canonical BCP 47 tag naming a language (`"pt_br"` → `"pt-BR"`), else null.
 * POSIX-style underscores, which apps often write, are read as hyphens. Anything else (`"english"`,
 * well-formed but naming no language, `"und"`, `"12"`, a number, an object) is ignored rather
 * than trusted.
 */
export function canonicalLocale(locale: unknown): string | null {
  if (typeof locale !== "string" || locale.length === 0 || locale.length > MAX_LOCALE_LENGTH) return null;
  try {
    const [canonical] = Intl.getCanonicalLocales(locale.trim().replaceAll("_", "-"));
    if (canonical === undefined) return null;
    const { language } = new Intl.Locale(canonical);
    // Primary subtags of 5–8 letters are reserved for registration: none is in use.
    if (!language || language === "und" || language.length > 3) return null;
    return canonical;
  } catch {
    return null;
  }
}

/** The primary language subtag of a valid `locale` (`"pt-BR"` → `"pt"`), else null. */
export function localeLanguage(locale: unknown): string | null {
  const canonical = canonicalLocale(locale);
  return canonical === null ? null : new Intl.Locale(canonical).language;
}
