/**
 * The words around a coaching message: the email's greeting, button, footer and subject, and the
 * one-click unsubscribe page. Pure. English is the fallback for any language not listed here; the
 * message itself is written by the model and is not in this catalogue.
 *
 * Plain text only: the email (React) and the unsubscribe page (`escapeHtml`) escape every string.
 */

import { localeLanguage } from "./locale";

export const EMAIL_LANGUAGES = ["en", "es", "de", "fr", "pt"] as const;
export type EmailLanguage = (typeof EMAIL_LANGUAGES)[number];
export const FALLBACK_EMAIL_LANGUAGE: EmailLanguage = "en";

export interface EmailStrings {
  greeting: (displayName: string | null) => string;
  openInJournal: string;
  /** The footer: `{footerReason} {changePreferences} {or} {unsubscribe}.` */
  footerReason: string;
  changePreferences: string;
  or: string;
  unsubscribe: string;
  defaultSubject: string;
  unsubscribePage: {
    notAvailableTitle: string;
    notAvailableBody: string;
    invalidTitle: string;
    invalidBody: string;
    confirmTitle: string;
    confirmBody: (maskedEmail: string) => string;
    button: string;
    doneTitle: string;
    alreadyOffBody: (maskedEmail: string) => string;
    doneBody: string;
  };
}

const CATALOGUE: Record<EmailLanguage, EmailStrings> = {
  en: {
    greeting: (name) => (name ? `Hi ${name},` : "Hi,"),
    openInJournal: "Open it in your journal",
    footerReason: "You get these messages because coaching is on in your journal.",
    changePreferences: "Change email preferences",
    or: "or",
    unsubscribe: "unsubscribe from these emails",
    defaultSubject: "A note from your journaling coach",
    unsubscribePage: {
      notAvailableTitle: "Not available",
      notAvailableBody: "Unsubscribe links are not enabled here.",
      invalidTitle: "This link is not valid",
      invalidBody:
        "This unsubscribe link is not valid any more. You can turn coaching emails off in the journal's notification settings.",
      confirmTitle: "Unsubscribe from coaching emails?",
      confirmBody: (email) =>
        `Coaching emails to ${email} will stop. Your coaching messages still appear in your journal.`,
      button: "Unsubscribe",
      doneTitle: "You are unsubscribed",
      alreadyOffBody: (email) => `Coaching emails to ${email} are off.`,
      doneBody: "Coaching emails are off. You can turn them back on in the journal's notification settings.",
    },
  },
  es: {
    greeting: (name) => (name ? `Hola, ${name}:` : "Hola:"),
    openInJournal: "Ábrelo en tu diario",
    footerReason: "Recibes estos mensajes porque el coaching está activado en tu diario.",
    changePreferences: "Cambiar las preferencias de correo",
    or: "o",
    unsubscribe: "darte de baja de estos correos",
    defaultSubject: "Una nota de tu coach de escritura",
    unsubscribePage: {
      notAvailableTitle: "No disponible",
      notAvailableBody: "Los enlaces para darse de baja no están activados aquí.",
      invalidTitle: "Este enlace no es válido",
      invalidBody:
        "Este enlace para darte de baja ya no es válido. Puedes desactivar los correos de coaching en los ajustes de notificaciones del diario.",
      confirmTitle: "¿Darte de baja de los correos de coaching?",
      confirmBody: (email) =>
        `Dejaremos de enviar correos de coaching a ${email}. Tus mensajes de coaching seguirán apareciendo en tu diario.`,
      button: "Darme de baja",
      doneTitle: "Te has dado de baja",
      alreadyOffBody: (email) => `Los correos de coaching a ${email} están desactivados.`,
      doneBody:
        "Los correos de coaching están desactivados. Puedes volver a activarlos en los ajustes de notificaciones del diario.",
    },
  },
  de: {
    greeting: (name) => (name ? `Hallo ${name},` : "Hallo,"),
    openInJournal: "In deinem Tagebuch öffnen",
    footerReason: "Du erhältst diese Nachrichten, weil Coaching in deinem Tagebuch aktiviert ist.",
    changePreferences: "E-Mail-Einstellungen ändern",
    or: "oder",
    unsubscribe: "diese E-Mails abbestellen",
    defaultSubject: "Eine Notiz von deinem Tagebuch-Coach",
    unsubscribePage: {
      notAvailableTitle: "Nicht verfügbar",
      notAvailableBody: "Abmeldelinks sind hier nicht aktiviert.",
      invalidTitle: "Dieser Link ist ungültig",
      invalidBody:
        "Dieser Abmeldelink ist nicht mehr gültig. Du kannst Coaching-E-Mails in den Benachrichtigungseinstellungen des Tagebuchs ausschalten.",
      confirmTitle: "Coaching-E-Mails abbestellen?",
      confirmBody: (email) =>
        `Es werden keine Coaching-E-Mails mehr an ${email} gesendet. Deine Coaching-Nachrichten erscheinen weiterhin in deinem Tagebuch.`,
      button: "Abbestellen",
      doneTitle: "Du hast dich abgemeldet",
      alreadyOffBody: (email) => `Coaching-E-Mails an ${email} sind ausgeschaltet.`,
      doneBody:
        "Coaching-E-Mails sind ausgeschaltet. Du kannst sie in den Benachrichtigungseinstellungen des Tagebuchs wieder einschalten.",
    },
  },
  fr: {
    greeting: (name) => (name ? `Bonjour ${name},` : "Bonjour,"),
    openInJournal: "L'ouvrir dans votre journal",
    footerReason: "Vous recevez ces messages parce que le coaching est activé dans votre journal.",
    changePreferences: "Modifier les préférences d'e-mail",
    or: "ou",
    unsubscribe: "vous désabonner de ces e-mails",
    defaultSubject: "Un mot de votre coach d'écriture",
    unsubscribePage: {
      notAvailableTitle: "Non disponible",
      notAvailableBody: "Les liens de désabonnement ne sont pas activés ici.",
      invalidTitle: "Ce lien n'est pas valide",
      invalidBody:
        "Ce lien de désabonnement n'est plus valide. Vous pouvez désactiver les e-mails de coaching dans les réglages de notification du journal.",
      confirmTitle: "Vous désabonner des e-mails de coaching ?",
      confirmBody: (email) =>
        `Les e-mails de coaching à ${email} s'arrêteront. Vos messages de coaching restent visibles dans votre journal.`,
      button: "Me désabonner",
      doneTitle: "Vous êtes désabonné",
      alreadyOffBody: (email) => `Les e-mails de coaching à ${email} sont désactivés.`,
      doneBody:
        "Les e-mails de coaching sont désactivés. Vous pouvez les réactiver dans les réglages de notification du journal.",
    },
  },
  pt: {
    greeting: (name) => (name ? `Olá, ${name},` : "Olá,"),
    openInJournal: "Abrir no seu diário",
    footerReason: "Você recebe estas mensagens porque o coaching está ativado no seu diário.",
    changePreferences: "Alterar as preferências de e-mail",
    or: "ou",
    unsubscribe: "cancelar a inscrição nestes e-mails",
    defaultSubject: "Uma nota do seu coach de escrita",
    unsubscribePage: {
      notAvailableTitle: "Indisponível",
      notAvailableBody: "Os links de cancelamento de inscrição não estão ativados aqui.",
      invalidTitle: "Este link não é válido",
      invalidBody:
        "Este link de cancelamento já não é válido. Você pode desativar os e-mails de coaching nas configurações de notificação do diário.",
      confirmTitle: "Cancelar a inscrição nos e-mails de coaching?",
      confirmBody: (email) =>
        `Os e-mails de coaching para ${email} vão parar. Suas mensagens de coaching continuam aparecendo no seu diário.`,
      button: "Cancelar inscrição",
      doneTitle: "Sua inscrição foi cancelada",
      alreadyOffBody: (email) => `Os e-mails de coaching para ${email} estão desativados.`,
      doneBody:
        "Os e-mails de coaching estão desativados. Você pode reativá-los nas configurações de notificação do diário.",
    },
  },
};

function isEmailLanguage(language: string): language is EmailLanguage {
  return (EMAIL_LANGUAGES as readonly string[]).includes(language);
}

/**
 * The catalogue language for a BCP 47 tag or primary subtag (`"pt-BR"` → `"pt"`); English for
 * anything not in the catalogue, for null and for junk.
 */
export function emailLanguageFor(language: string | null | undefined): EmailLanguage {
  const primary = (language ?? "").trim().toLowerCase().split(/[-_]/)[0] ?? "";
  return isEmailLanguage(primary) ? primary : FALLBACK_EMAIL_LANGUAGE;
}

/** The email and unsubscribe-page strings in `language`, English when it is not in the catalogue. */
export function emailStrings(language: string | null | undefined): EmailStrings {
  return CATALOGUE[emailLanguageFor(language)];
}

/**
 * The catalogue language a browser asks for in its `Accept-Language` header: the listed languages
 * by descending `q` (ties in header order), the first one in the catalogue; English otherwise.
 */
export function languageFromAcceptLanguage(header: string | null | undefined): EmailLanguage {
  const ranked = (header ?? "")
    .split(",")
    .map((part, index) => {
      const [range = "", ...parameters] = part.trim().split(";");
      const quality = parameters
        .map((parameter) => parameter.trim().match(/^q=([01](?:\.\d{0,3})?)$/i))
        .find((match) => match !== null);
      return { range: range.trim(), quality: quality ? Number(quality[1]) : 1, index };
    })
    .filter(({ range, quality }) => range !== "" && range !== "*" && quality > 0)
    .sort((first, second) => second.quality - first.quality || first.index - second.index);
  const match = ranked.map(({ range }) => range.toLowerCase().split("-")[0] ?? "").find(isEmailLanguage);
  return match ?? FALLBACK_EMAIL_LANGUAGE;
}

/**
 * The locale a coaching email speaks: the message's language (absent on messages stored before it
 * was recorded: English), refined by the user's `locale` when that names the same language, so a
 * `pt-BR` user's date reads as in Brazil. A locale changed since the message was written does not
 * put the email's words in another language than the message's.
 */
export function emailLocaleFor({
  messageLanguage,
  userLocale,
}: {
  messageLanguage: string | null | undefined;
  userLocale: string | null | undefined;
}): string {
  const language = messageLanguage ?? FALLBACK_EMAIL_LANGUAGE;
  return userLocale != null && localeLanguage(userLocale) === language ? userLocale : language;
}

/**
 * `at` as a date and time in the user's language and time zone, e.g. "Monday, 30 November 2026 at
 * 08:00" / "lunes, 30 de noviembre de 2026, 8:00". `language` may be any BCP 47 tag the runtime
 * knows (Intl falls back itself); an unknown `timeZone` falls back to UTC rather than failing a
 * delivery.
 */
export function formatEmailDateTime({
  at,
  language,
  timeZone,
}: {
  at: number;
  language: string | null | undefined;
  timeZone: string;
}): string {
  const locale = safeLocale(language);
  const options: Intl.DateTimeFormatOptions = { dateStyle: "full", timeStyle: "short" };
  try {
    return new Intl.DateTimeFormat(locale, { ...options, timeZone }).format(at);
  } catch {
    return new Intl.DateTimeFormat(locale, { ...options, timeZone: "UTC" }).format(at);
  }
}

function safeLocale(language: string | null | undefined): string {
  try {
    return Intl.getCanonicalLocales(language ?? FALLBACK_EMAIL_LANGUAGE)[0] ?? FALLBACK_EMAIL_LANGUAGE;
  } catch {
    return FALLBACK_EMAIL_LANGUAGE;
  }
}
