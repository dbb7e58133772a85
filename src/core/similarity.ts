/**
 * Novelty: a user never gets the same nudge twice. A candidate is too close to a recent message
 * when their normalised texts are similar at or above `SIMILARITY_THRESHOLD`, or when it would
 * be the third message of the same type in a row.
 *
 * Similarity is the Sørensen–Dice coefficient over word unigrams and bigrams of the normalised
 * text (lower case, Latin/Greek/Cyrillic accents folded, punctuation dropped). Words are found
 * with `Intl.Segmenter` (ICU's dictionaries), not by splitting on spaces, so Japanese, Chinese
 * and Thai, written without spaces between words, are compared word by word too instead of as one
 * sentence-long "word". 1 means the same words in the same
 * order; rephrasing a sentence while keeping its point typically scores 0.5–0.7, unrelated
 * messages on the same theme below 0.3. 0.6 catches near-duplicates and light rewordings
 * without rejecting messages that merely share a topic.
 */
import type { MessageType } from "./coaching-message";

export const SIMILARITY_THRESHOLD = 0.6;
/** How many recent messages a candidate is compared with. */
export const NOVELTY_WINDOW = 10;
/** The same type this many times in a row is too repetitive. */
export const MAX_SAME_TYPE_RUN = 2;

/**
 * Combining marks on a Latin, Greek or Cyrillic letter: accents a writer may or may not type
 * (mañana/manana, été/ete). Marks elsewhere are part of the letter (Devanagari vowel signs, Thai
 * tone marks, Japanese dakuten): folding those would merge different words.
 */
// Matched from the letter forward (replaced by the letter alone), not with a look-behind over
// `\p{M}*`: that scanned back over a whole run of marks at every mark, quadratic on a long run
// after any other character (20,000 marks after a digit took about 6 s).
const FOLDABLE_ACCENT = /([\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}])\p{M}+/gu;

/** Word boundaries for every script; the locale only tunes edge cases, ICU picks by script. */
const wordSegmenter = new Intl.Segmenter(undefined, { granularity: "word" });

function words(text: string): string[] {
  const folded = text.normalize("NFKD").replace(FOLDABLE_ACCENT, "$1").normalize("NFC").toLowerCase();
  const found: string[] = [];
  for (const segment of wordSegmenter.segment(folded)) {
    if (!segment.isWordLike) continue;
    // A "word" may still carry joiners such as an apostrophe (t'a): keep letters and digits.
    const word = segment.segment.replace(/[^\p{L}\p{M}\p{N}]/gu, "");
    if (word !== "") found.push(word);
  }
  return found;
}

/** The text's words, lower case, accents folded, punctuation dropped, joined by single spaces. */
export function normaliseText(text: string): string {
  return words(text).join(" ");
}

function shingles(text: string): Map<string, number> {
  const textWords = words(text);
  const counts = new Map<string, number>();
  const add = (shingle: string) => counts.set(shingle, (counts.get(shingle) ?? 0) + 1);
  textWords.forEach((word, index) => {
    add(word);
    const next = textWords[index + 1];
    if (next !== undefined) add(`${word} ${next}`);
  });
  return counts;
}

/** Dice coefficient of the two texts' word shingles, in [0, 1]; 1 for identical normalised text. */
export function textSimilarity(first: string, second: string): number {
  const left = shingles(first);
  const right = shingles(second);
  let leftSize = 0;
  let rightSize = 0;
  let overlap = 0;
  for (const count of left.values()) leftSize += count;
  for (const [shingle, count] of right) {
    rightSize += count;
    overlap += Math.min(count, left.get(shingle) ?? 0);
  }
  if (leftSize + rightSize === 0) return 1;
  return (2 * overlap) / (leftSize + rightSize);
}

export interface RecentMessage {
  messageType: MessageType;
  messageContent: string;
}

export type NoveltyVerdict = { novel: true } | { novel: false; reason: string };

/**
 * Whether `candidate` is new enough given `recent` (newest first; only sent messages count).
 */
export function checkNovelty({
  candidate,
  recent,
}: {
  candidate: RecentMessage;
  recent: readonly RecentMessage[];
}): NoveltyVerdict {
  const window = recent.slice(0, NOVELTY_WINDOW);
  const run = window.slice(0, MAX_SAME_TYPE_RUN);
  if (
    run.length === MAX_SAME_TYPE_RUN &&
    run.every((message) => message.messageType === candidate.messageType)
  ) {
    return {
      novel: false,
      reason: `same type (${candidate.messageType}) as the last ${MAX_SAME_TYPE_RUN} messages`,
    };
  }
  for (const [index, message] of window.entries()) {
    const similarity = textSimilarity(candidate.messageContent, message.messageContent);
    if (similarity >= SIMILARITY_THRESHOLD) {
      return {
        novel: false,
        reason: `too similar (${similarity.toFixed(2)}) to recent message ${index + 1}`,
      };
    }
  }
  return { novel: true };
}
