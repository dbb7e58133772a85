/**
 * Journal insights: new entries are analysed in batches into structured insights, merged into
 * the user's running insights, and summarised for the coaching prompt. Pure.
 */
import { z } from "zod";
import { asData } from "./coaching-context";

/** Entries per LLM call: enough context for patterns, small enough for a known prompt size. */
export const INSIGHT_BATCH_SIZE = 5;
/** Characters of one entry sent for analysis. */
export const INSIGHT_ENTRY_CHARS = 1_500;
const LIST_CAP = 8;

const shortList = z.array(z.string().max(200)).max(LIST_CAP);

export const journalInsightsSchema = z.object({
  themes: shortList.describe("recurring topics, a few words each"),
  goalsAndCommitments: shortList.describe("goals or commitments the user stated"),
  moodTrend: z.enum(["improving", "stable", "declining", "mixed", "unclear"]),
  challenges: shortList.describe("difficulties the user described"),
  notableChanges: shortList.describe("what changed compared with earlier entries"),
  summary: z.string().max(600).describe("two or three sentences on where the user is now"),
});
export type JournalInsightsAnalysis = z.infer<typeof journalInsightsSchema>;

export interface InsightBatchRecord {
  entryIds: string[];
  analysedAt: number;
}

export interface UserInsights {
  uid: string;
  themes: string[];
  goalsAndCommitments: string[];
  moodTrend: JournalInsightsAnalysis["moodTrend"];
  challenges: string[];
  notableChanges: string[];
  latestSummary: string;
  /** The prompt-ready digest of all of the above. */
  summary: string;
  /** createdAt of the newest entry analysed: entries after it are new. */
  analysedThrough: number;
  /** The entries each recent batch came from, newest first. */
  batches: InsightBatchRecord[];
  updatedAt: number;
}

function mergeList(newer: readonly string[], older: readonly string[]): string[] {
  const seen = new Set<string>();
  const merged: string[] = [];
  for (const item of [...newer, ...older]) {
    const key = item.trim().toLowerCase();
    if (key === "" || seen.has(key)) continue;
    seen.add(key);
    merged.push(item.trim());
  }
  return merged.slice(0, LIST_CAP);
}

function digest(insights: Omit<UserInsights, "summary">): string {
  const line = (label: string, items: readonly string[]) =>
    items.length ? `${label}: ${items.join("; ")}` : null;
  return [
    insights.latestSummary,
    line("Themes", insights.themes),
    line("Goals and commitments", insights.goalsAndCommitments),
    `Mood trend: ${insights.moodTrend}`,
    line("Challenges", insights.challenges),
    line("Notable changes", insights.notableChanges),
  ]
    .filter((part): part is string => Boolean(part))
    .join("\n");
}

/** Folds one analysed batch into the running insights; the newer batch leads every list. */
export function mergeInsights({
  previous,
  analysis,
  uid,
  entries,
  now,
}: {
  previous: UserInsights | null;
  analysis: JournalInsightsAnalysis;
  uid: string;
  entries: readonly { id: string; createdAt: number }[];
  now: number;
}): UserInsights {
  const merged: Omit<UserInsights, "summary"> = {
    uid,
    themes: mergeList(analysis.themes, previous?.themes ?? []),
    goalsAndCommitments: mergeList(analysis.goalsAndCommitments, previous?.goalsAndCommitments ?? []),
    moodTrend: analysis.moodTrend,
    challenges: mergeList(analysis.challenges, previous?.challenges ?? []),
    notableChanges: mergeList(analysis.notableChanges, previous?.notableChanges ?? []),
    latestSummary: analysis.summary,
    analysedThrough: Math.max(previous?.analysedThrough ?? 0, ...entries.map((entry) => entry.createdAt)),
    batches: [
      { entryIds: entries.map((entry) => entry.id), analysedAt: now },
      ...(previous?.batches ?? []),
    ].slice(0, 10),
    updatedAt: now,
  };
  return { ...merged, summary: digest(merged) };
}

/**
 * Moves the insights cursor to `through` without an analysis: the entries up to it were the
 * engine's coaching entries (or unreadable), nothing to analyse, but never to read again. A user
 * with no insights yet gets an empty record (an empty summary stays out of the prompt), so the
 * cursor survives until their first entry.
 */
export function advanceInsightsCursor({
  previous,
  uid,
  through,
  now,
}: {
  previous: UserInsights | null;
  uid: string;
  through: number;
  now: number;
}): UserInsights {
  if (previous) {
    return { ...previous, analysedThrough: Math.max(previous.analysedThrough, through), updatedAt: now };
  }
  return {
    uid,
    themes: [],
    goalsAndCommitments: [],
    moodTrend: "unclear",
    challenges: [],
    notableChanges: [],
    latestSummary: "",
    summary: "",
    analysedThrough: through,
    batches: [],
    updatedAt: now,
  };
}

/** The user-turn prompt for analysing one batch of entries (oldest first). */
export function renderInsightsPrompt({
  entries,
  previousSummary,
}: {
  entries: readonly { content: string; createdAt: number; title?: string }[];
  previousSummary: string | null;
}): string {
  return [
    "Analyse these new journal entries.",
    "<user_data>",
    previousSummary ? `<previous_insights>\n${asData(previousSummary)}\n</previous_insights>` : null,
    ...entries.map(
      (entry) =>
        `<journal_entry written="${new Date(entry.createdAt).toISOString().slice(0, 10)}">\n${entry.title ? `Title: ${asData(entry.title)}\n` : ""}${asData(entry.content.slice(0, INSIGHT_ENTRY_CHARS))}\n</journal_entry>`,
    ),
    "</user_data>",
  ]
    .filter((line) => line !== null)
    .join("\n");
}
