/**
 * The context a coaching message is written from, and the prompt text built from it. Pure: the
 * pipeline reads the data (only this user's) and passes it in with `now`.
 *
 * The prompt has a known ceiling: at most `MAX_JOURNAL_ENTRIES` entries, each cut at
 * `MAX_ENTRY_CHARS`, all of them together at most `MAX_JOURNAL_CHARS`, plus at most
 * `NOVELTY_WINDOW` recent messages and a bounded insights summary. Journal text is data, not
 * instructions: it sits inside <user_data>, with angle brackets neutralised so no entry can
 * close the block and speak as the system.
 *
 * The language the message is written in (docs/generation.md "Language") is judged here, from the
 * entries the context already holds, and both prompts ask for it outside <user_data>.
 */
import type { GeneratedMessage, MessageType } from "./coaching-message";
import { type MessageLanguage, messageLanguage } from "./language";
import { localDateTime, TIME_WINDOWS } from "./schedule";
import { NOVELTY_WINDOW } from "./similarity";
import type { CoachingUser } from "./user";

export const MAX_JOURNAL_ENTRIES = 10;
export const MAX_ENTRY_CHARS = 1_500;
export const MAX_JOURNAL_CHARS = 8_000;
export const MAX_INSIGHTS_CHARS = 2_000;

export interface JournalEntry {
  id: string;
  content: string;
  createdAt: number;
  title?: string;
}

export interface PastMessage {
  messageType: MessageType;
  messageContent: string;
  createdAt: number;
  /** The user's own verdict on it, when they gave one (the feedback API). */
  feedbackHelpful?: boolean;
  /** True when Resend reported the email opened. */
  emailOpened?: boolean;
}

export interface CoachingContext {
  user: CoachingUser;
  now: number;
  localDateTime: string;
  entries: JournalEntry[];
  recentMessages: PastMessage[];
  insightsSummary: string | null;
  /** The language to write in: the user's `locale`, else detected from `entries`, else English. */
  language: MessageLanguage;
}

/** What the stored message records about the context it was written from. */
export interface ContextUsed {
  journalEntryIds: string[];
  journalEntryCount: number;
  journalCharacters: number;
  recentMessageCount: number;
  hasInsights: boolean;
  localDateTime: string;
  timePreference: CoachingUser["coachingConfig"]["timePreference"];
  frequency: CoachingUser["coachingConfig"]["frequency"];
}

function truncate(text: string, maxLength: number): string {
  return text.length <= maxLength ? text : `${text.slice(0, maxLength - 1)}…`;
}

/** Neutralises anything that could close or open a prompt block. */
export function asData(text: string): string {
  return text.replace(/</g, "‹").replace(/>/g, "›");
}

/**
 * Bounds the inputs: newest entries first, each truncated, stopping when the character budget
 * is spent (the newest entry always gets in, truncated if it must).
 */
export function buildCoachingContext({
  user,
  now,
  entries,
  recentMessages,
  insightsSummary,
}: {
  user: CoachingUser;
  now: number;
  entries: readonly JournalEntry[];
  recentMessages: readonly PastMessage[];
  insightsSummary?: string | null;
}): CoachingContext {
  const newestFirst = [...entries].sort((first, second) => second.createdAt - first.createdAt);
  const kept: JournalEntry[] = [];
  let budget = MAX_JOURNAL_CHARS;
  for (const entry of newestFirst.slice(0, MAX_JOURNAL_ENTRIES)) {
    if (budget <= 0) break;
    const content = truncate(entry.content.trim(), Math.min(MAX_ENTRY_CHARS, budget));
    budget -= content.length;
    kept.push({ ...entry, content, ...(entry.title ? { title: truncate(entry.title, 200) } : {}) });
  }
  return {
    // Judged on the bounded entries: the detector's work is bounded too.
    language: messageLanguage({ locale: user.locale, entries: kept }),
    user,
    now,
    localDateTime: localDateTime({ at: now, timezone: user.timezone }),
    entries: kept,
    recentMessages: [...recentMessages]
      .sort((first, second) => second.createdAt - first.createdAt)
      .slice(0, NOVELTY_WINDOW),
    insightsSummary: insightsSummary ? truncate(insightsSummary, MAX_INSIGHTS_CHARS) : null,
  };
}

export function describeContext(context: CoachingContext): ContextUsed {
  return {
    journalEntryIds: context.entries.map((entry) => entry.id),
    journalEntryCount: context.entries.length,
    journalCharacters: context.entries.reduce((total, entry) => total + entry.content.length, 0),
    recentMessageCount: context.recentMessages.length,
    hasInsights: context.insightsSummary !== null,
    localDateTime: context.localDateTime,
    timePreference: context.user.coachingConfig.timePreference,
    frequency: context.user.coachingConfig.frequency,
  };
}

/** What the user did with a past message, as attributes (absent when nothing is known). */
function engagementAttributes(message: PastMessage): string {
  const feedback =
    message.feedbackHelpful === undefined
      ? ""
      : ` user_feedback="${message.feedbackHelpful ? "helpful" : "not helpful"}"`;
  return `${feedback}${message.emailOpened ? ' email_opened="yes"' : ""}`;
}

/**
 * What this user found helpful, per message type, among the recent messages they rated: bounded
 * by the recent-message window (at most one line per type), and counts only, never the user's
 * notes. Null when they rated none.
 */
export function renderFeedbackSummary(recentMessages: readonly PastMessage[]): string | null {
  const rated = recentMessages.filter((message) => message.feedbackHelpful !== undefined);
  if (rated.length === 0) return null;
  const byType = new Map<string, { helpful: number; rated: number }>();
  for (const message of rated) {
    const counts = byType.get(message.messageType) ?? { helpful: 0, rated: 0 };
    counts.rated += 1;
    if (message.feedbackHelpful) counts.helpful += 1;
    byType.set(message.messageType, counts);
  }
  const lines = [...byType.entries()]
    .sort(([first], [second]) => first.localeCompare(second))
    .map(([type, counts]) => `${type}: helpful ${counts.helpful} of ${counts.rated} rated`);
  return [
    `<user_feedback_summary rated="${rated.length}" of_recent="${recentMessages.length}">`,
    ...lines,
    "</user_feedback_summary>",
  ].join("\n");
}

function renderUserData(context: CoachingContext): string {
  const { user } = context;
  const window = TIME_WINDOWS[user.coachingConfig.timePreference];
  const entries = context.entries.map((entry) =>
    [
      `<journal_entry written="${localDateTime({ at: entry.createdAt, timezone: user.timezone })}">`,
      entry.title ? `Title: ${asData(entry.title)}` : null,
      asData(entry.content),
      "</journal_entry>",
    ]
      .filter((line) => line !== null)
      .join("\n"),
  );
  const recent = context.recentMessages.map(
    (message) =>
      `<coaching_message type="${message.messageType}" sent="${localDateTime({ at: message.createdAt, timezone: user.timezone })}"${engagementAttributes(message)}>\n${asData(message.messageContent)}\n</coaching_message>`,
  );
  const feedback = renderFeedbackSummary(context.recentMessages);
  return [
    "<user_data>",
    `<preferences>name: ${asData(user.displayName ?? "(not given)")}; local date and time: ${context.localDateTime} (${user.timezone}); prefers ${user.coachingConfig.timePreference} messages (${window.startHour}:00–${window.endHour}:00); frequency: ${user.coachingConfig.frequency}</preferences>`,
    `<journal_entries count="${context.entries.length}" order="newest first">`,
    ...(entries.length ? entries : ["(no journal entries yet)"]),
    "</journal_entries>",
    context.insightsSummary ? `<insights>\n${asData(context.insightsSummary)}\n</insights>` : null,
    `<recent_coaching_messages count="${recent.length}" order="newest first">`,
    ...(recent.length ? recent : ["(none yet)"]),
    "</recent_coaching_messages>",
    feedback,
    "</user_data>",
  ]
    .filter((line) => line !== null)
    .join("\n");
}

/** English names of languages, for the prompt ("es" → "Spanish"). */
const LANGUAGE_NAMES = new Intl.DisplayNames(["en"], { type: "language", fallback: "code" });

/**
 * The language the message must be in, as an instruction of the engine's (never inside
 * <user_data>): the tag is a validated BCP 47 subtag, the name is the runtime's, so neither carries
 * text the user wrote.
 */
export function renderMessageLanguage({ language }: MessageLanguage): string {
  return `<message_language tag="${language}">${LANGUAGE_NAMES.of(language) ?? language}</message_language>`;
}

/** The user-turn prompt for message generation; `avoid` carries a rejected draft on the retry. */
export function renderGenerationPrompt(
  context: CoachingContext,
  avoid?: { draft: string; reason: string },
): string {
  return [
    "Write the next coaching message for this user.",
    renderUserData(context),
    `Write messageContent and pushNotificationText in this language:\n${renderMessageLanguage(context.language)}`,
    avoid
      ? `A previous draft was rejected (${avoid.reason}). Write something clearly different in wording, angle and type from it and from the recent messages:\n<rejected_draft>\n${asData(avoid.draft)}\n</rejected_draft>`
      : null,
  ]
    .filter((line) => line !== null)
    .join("\n\n");
}

/**
 * The user-turn prompt for the outcome simulation of `candidate`. Under an elevated or acute risk
 * the run's level is stated as the engine's own element, outside <user_data> (a closed set of
 * values, never text from the entries), so the scorer rates a pushing draft low even when the
 * engine relabelled its type (core/risk.ts `decideRiskRule`).
 */
export function renderOutcomePrompt(
  context: CoachingContext,
  candidate: Pick<GeneratedMessage, "messageType" | "messageContent"> & {
    riskLevel?: GeneratedMessage["riskLevel"];
  },
): string {
  const risk = candidate.riskLevel ?? "none";
  return [
    "Simulate how this user would receive the candidate message, and rate it.",
    renderUserData(context),
    risk === "none"
      ? null
      : `The engine assessed the user's entries at this risk level; rate the message for it:\n<risk_assessment level="${risk}"/>`,
    `<candidate_message type="${candidate.messageType}">\n${asData(candidate.messageContent)}\n</candidate_message>`,
    `The message is meant to be in this language; judge it as a native reader of it:\n${renderMessageLanguage(context.language)}`,
  ]
    .filter((line) => line !== null)
    .join("\n\n");
}
