/**
 * Dead letters grouped by what went wrong: the event type and the error with everything that
 * differs from one event to the next (ids, numbers, quoted values, addresses) taken out, so
 * "Resend 503 for evt_123" and "Resend 503 for evt_456" are one group an operator can replay
 * at once. Pure: the admin events page and its group replay both group the same letters this way.
 */

/** Longest error signature kept; dead letters' messages are at most 500 characters. */
export const MAX_ERROR_SIGNATURE_LENGTH = 200;

// A single quote right after a letter is an apostrophe ("couldn't"), not an opening quote; so is
// one after a placeholder's '>', since the placeholder may stand for a word ending in a letter.
const QUOTED = /"[^"]*"|(?<![A-Za-z>])'[^']*'|`[^`]*`/g;
const EMAIL = /[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;
const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;
/**
 * A token that names one thing: a prefixed id with a digit somewhere (`evt_123`, `msg-2f9a`,
 * `coaching.message.created_user-42_1700000000000`), or a run of 12 or more letters and digits
 * with at least one digit (Firestore auto-ids, hashes, provider request ids).
 */
const ID_TOKEN =
  /\b(?=[\w.:-]*\d)[A-Za-z][\w.:-]*[_:-][\w.:-]*\b|\b(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{12,}\b/g;
/** Integers 100–599 standing alone: HTTP statuses, which tell different failures apart (a 429 is not a 503). */
const HTTP_STATUS = /^[1-5]\d\d$/;
const NUMBER = /\d+(?:\.\d+)?/g;

/**
 * The error of a dead letter with what varies per event replaced by placeholders: quoted values
 * by `<value>` (no quote is left to pair up differently on a second pass), email addresses by
 * `<email>`, ids by `<id>`, numbers by `<n>` (except a standalone 100–599, kept as an HTTP
 * status), whitespace collapsed, cut to MAX_ERROR_SIGNATURE_LENGTH. Idempotent: a signature is
 * its own signature.
 */
export function errorSignature(message: string): string {
  const signature = message
    // Whitespace first: a newline between two quotes must not become a space that pairs them later.
    .replace(/\s+/g, " ")
    .replace(QUOTED, "<value>")
    .replace(EMAIL, "<email>")
    .replace(UUID, "<id>")
    .replace(ID_TOKEN, "<id>")
    .replace(NUMBER, (digits, offset: number, whole: string) => {
      const before = whole[offset - 1] ?? " ";
      const after = whole[offset + digits.length] ?? " ";
      const standsAlone = !/[\w.]/.test(before) && !/[\w.]/.test(after);
      return standsAlone && HTTP_STATUS.test(digits) ? digits : "<n>";
    })
    .replace(/\s+/g, " ")
    .trim();
  if (signature.length <= MAX_ERROR_SIGNATURE_LENGTH) return signature;
  // Cut at a space, so no token is left half (a half status would read as another number); with
  // no space to cut at, drop the half word.
  const cut = signature.lastIndexOf(" ", MAX_ERROR_SIGNATURE_LENGTH - 2);
  const kept =
    cut > 0
      ? signature.slice(0, cut)
      : signature.slice(0, MAX_ERROR_SIGNATURE_LENGTH - 2).replace(/[\w.]+$/, "");
  return `${kept} …`;
}

/** What grouping needs of a dead letter. */
export interface DeadLetterSummary {
  event_id: string;
  event_type: string;
  error_message: string;
  /** When the event was dead-lettered (Unix ms). */
  created_at: number;
}

export interface DeadLetterGroup {
  eventType: string;
  errorSignature: string;
  count: number;
  /** Earliest and latest dead-lettering in the group (Unix ms). */
  firstSeenAt: number;
  lastSeenAt: number;
  /** The latest letter's own error, as an example of what the signature stands for. */
  exampleError: string;
  eventIds: string[];
}

/** The key a group is found by again (the replay form posts its two parts). */
export function deadLetterGroupKey(group: { eventType: string; errorSignature: string }): string {
  return JSON.stringify([group.eventType, group.errorSignature]);
}

/**
 * Groups dead letters by event type and error signature, largest group first (then the most
 * recent), each with its count, first and last seen times and event ids.
 */
export function groupDeadLetters(letters: readonly DeadLetterSummary[]): DeadLetterGroup[] {
  const groups = new Map<string, DeadLetterGroup>();
  for (const letter of letters) {
    const signature = errorSignature(letter.error_message);
    const key = deadLetterGroupKey({ eventType: letter.event_type, errorSignature: signature });
    const group = groups.get(key);
    if (!group) {
      groups.set(key, {
        eventType: letter.event_type,
        errorSignature: signature,
        count: 1,
        firstSeenAt: letter.created_at,
        lastSeenAt: letter.created_at,
        exampleError: letter.error_message,
        eventIds: [letter.event_id],
      });
      continue;
    }
    group.count += 1;
    group.eventIds.push(letter.event_id);
    group.firstSeenAt = Math.min(group.firstSeenAt, letter.created_at);
    if (letter.created_at > group.lastSeenAt) {
      group.lastSeenAt = letter.created_at;
      group.exampleError = letter.error_message;
    }
  }
  return [...groups.values()].sort(
    (left, right) => right.count - left.count || right.lastSeenAt - left.lastSeenAt,
  );
}
