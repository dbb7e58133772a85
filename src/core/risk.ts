/**
 * Crisis-aware coaching (docs/generation.md "Safety"): the risk the generation call reads in the
 * user's entries, the message types it rules out, and the helpline text a message then carries.
 * Pure: the pipeline passes the model's answer and the configured texts in.
 *
 * The model's assessment is a signal, not a diagnosis: it only makes the engine more careful
 * (no pushing types, a pointer to help, an operator flag). Nothing here ever makes a message
 * earlier, more frequent or more insistent, and the assessment's reason is never shown to the user.
 */
import type { MessageType } from "./coaching-message";
import { canonicalLocale, localeLanguage } from "./locale";
import { cut } from "./message-text";
import type { AcuteRiskOutcome } from "./processing-state";

export const RISK_LEVELS = ["none", "elevated", "acute"] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

/** The longest `riskReason` kept: a short note for operators, never a summary of the entry. */
export const RISK_REASON_MAX_LENGTH = 200;

/**
 * Types that push the user to do something: wrong for someone who may be in distress. Everything
 * else (check_in, encouragement, the reflections, personal_insight, relevant_lesson) is allowed.
 */
export const RISK_RESTRICTED_TYPES: readonly MessageType[] = ["challenge", "reminder"];

/** The type a restricted draft is relabelled to when no regeneration is left: the gentlest one. */
export const SUPPORTIVE_FALLBACK_TYPE: MessageType = "check_in";

/** Whether the entries call for the careful path: elevated or acute. */
export function needsCare(level: RiskLevel): boolean {
  return level !== "none";
}

/**
 * The highest of the levels assessed in one run (a regeneration may assess again): once a draft
 * saw distress, the run stays careful even if a later one did not.
 */
export function highestRisk(levels: readonly RiskLevel[]): RiskLevel {
  return levels.reduce<RiskLevel>(
    (highest, level) => (RISK_LEVELS.indexOf(level) > RISK_LEVELS.indexOf(highest) ? level : highest),
    "none",
  );
}

/** What to do with a draft under the run's risk level. */
export type RiskDecision =
  | { kind: "accept" }
  /** Ask once more, saying why (uses the run's one regeneration). */
  | { kind: "regenerate"; reason: string }
  /** No regeneration left: keep the draft under a supportive type (the scorer still judges it). */
  | { kind: "relabel"; messageType: MessageType }
  /** No regeneration left under acute risk: the draft is not sent at all (stored as rejected). */
  | { kind: "refuse"; reason: string };

/**
 * The rule enforced after the model answers, whatever the prompt said: under an elevated or acute
 * risk a `challenge` or `reminder` is never sent. The first such draft is regenerated (the run has
 * one regeneration, shared with the novelty check); a second one, or one when the regeneration is
 * spent, is relabelled `check_in` under `elevated` (the scorer, told the risk, still judges its
 * content) and refused under `acute`: a pushing text is not sent to someone in crisis under another
 * label. A draft of an allowed type, or any draft without risk, stands.
 */
export function decideRiskRule({
  messageType,
  riskLevel,
  canRegenerate,
}: {
  messageType: MessageType;
  riskLevel: RiskLevel;
  canRegenerate: boolean;
}): RiskDecision {
  if (!needsCare(riskLevel) || !RISK_RESTRICTED_TYPES.includes(messageType)) return { kind: "accept" };
  if (canRegenerate) {
    return {
      kind: "regenerate",
      reason: `a ${messageType} is not sent when the entries suggest the user may be struggling; write a gentle, supportive message instead`,
    };
  }
  if (riskLevel === "acute") {
    return {
      kind: "refuse",
      reason: `a ${messageType} was written again under acute risk; nothing is sent this time`,
    };
  }
  return { kind: "relabel", messageType: SUPPORTIVE_FALLBACK_TYPE };
}

/**
 * Whether a run that ends without a sent message keeps the user's usual next time instead of the
 * retry interval (2–8 h): after an `acute` assessment the engine does not come back sooner than it
 * would have anyway; the operator is flagged instead. Risk never moves a message earlier.
 */
export function keepsUsualSchedule(level: RiskLevel | undefined): boolean {
  return level === "acute";
}

/** A `SAFETY_RESOURCES` table: a short text per BCP 47 language (or full tag), and `default`. */
export type SafetyResources = Readonly<Record<string, string>>;

/**
 * The neutral texts used when SAFETY_RESOURCES is unset (and behind a configured table that lacks
 * the user's language and a `default`): no number, because the engine does not know the user's
 * country; they point to local emergency services and someone the user trusts.
 */
export const DEFAULT_SAFETY_RESOURCES: SafetyResources = {
  default:
    "If you are in crisis or thinking about harming yourself, please contact your local emergency services or a crisis line in your country now, and reach out to someone you trust.",
  en: "If you are in crisis or thinking about harming yourself, please contact your local emergency services or a crisis line in your country now, and reach out to someone you trust.",
  es: "Si estás en crisis o pensando en hacerte daño, contacta ahora con los servicios de emergencia locales o con una línea de crisis de tu país, y acude a alguien de confianza.",
  de: "Wenn du in einer Krise bist oder daran denkst, dir etwas anzutun, wende dich bitte jetzt an den örtlichen Notruf oder eine Krisen-Hotline in deinem Land und sprich mit einem Menschen, dem du vertraust.",
  fr: "Si tu traverses une crise ou penses à te faire du mal, contacte dès maintenant les services d'urgence locaux ou une ligne d'écoute de ton pays, et tourne-toi vers une personne de confiance.",
  pt: "Se você está em crise ou pensando em se machucar, entre em contato agora com os serviços de emergência locais ou com uma linha de apoio do seu país, e procure alguém de confiança.",
};

/**
 * The helpline text for a message in `language` (a BCP 47 primary subtag, `"pt"`, or a full tag),
 * refined by the user's `locale` when that names the same language (a `pt-BR` user's Portuguese
 * message gets the `pt-BR` text): the configured table's full tag, then its primary subtag, then
 * its `default`; then the neutral built-in texts the same way. An operator's `default` wins over a
 * built-in translation: it knows the region it serves; a table without one leaves other languages
 * the neutral text in their own. A locale of another language says nothing about the message's.
 */
export function safetyResourceFor({
  configured,
  language,
  locale,
}: {
  configured: SafetyResources | null;
  language: string;
  /** The user's `locale` (any spelling; canonicalised here), when they have one. */
  locale?: string | null;
}): string {
  const primary = language.split("-")[0]?.toLowerCase() ?? language;
  const regional = locale != null && localeLanguage(locale) === primary ? canonicalLocale(locale) : null;
  const lookUp = (table: SafetyResources) =>
    (regional !== null ? table[regional] : undefined) ?? table[language] ?? table[primary] ?? table.default;
  return (
    (configured ? lookUp(configured) : undefined) ??
    lookUp(DEFAULT_SAFETY_RESOURCES) ??
    (DEFAULT_SAFETY_RESOURCES.default as string)
  );
}

/**
 * The message with the helpline text as its own last paragraph, within `maxLength`: the model's
 * text is cut (at a word, with an ellipsis) to make room, never the helpline text. Added after the
 * model's text was sanitised, so a helpline's URL, if the operator gave one, is kept. A message
 * that already ends with it (one appended before, or the model's own copy) carries it once, as its
 * last paragraph; the cut never splits a surrogate pair.
 */
export function withSafetyResource({
  messageContent,
  resource,
  maxLength,
}: {
  messageContent: string;
  resource: string;
  maxLength: number;
}): string {
  const separator = "\n\n";
  const room = maxLength - resource.length - separator.length;
  const trimmed = messageContent.trimEnd();
  // A copy already at the end (appended before, or the model's own) is moved to its own paragraph, not doubled.
  const body = trimmed.endsWith(resource) ? trimmed.slice(0, -resource.length).trimEnd() : trimmed;
  if (body.length <= room) return `${body}${separator}${resource}`;
  const head = cut(body, Math.max(0, room - 1));
  const lastSpace = head.lastIndexOf(" ");
  const cutBody = `${(lastSpace > room / 2 ? head.slice(0, lastSpace) : head).trimEnd()}…`;
  return `${cutBody}${separator}${resource}`;
}

/**
 * What the operator's page says the run flagged `acute` did, from how it ended (written with the
 * flag): a supportive message sent, or nothing sent and the ending. Undefined: a flag written
 * before the ending was recorded.
 */
export function describeAcuteRiskOutcome(outcome: AcuteRiskOutcome | undefined): string {
  if (outcome === undefined) return "How that run ended was not recorded; see its slot.";
  if (outcome === "sent") return "A supportive message with the helpline text was sent.";
  return `No message was sent: the run ended ${outcome}.`;
}
