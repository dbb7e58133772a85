/**
 * Whether a run must look the user's own LLM key up, from what the processing state last heard
 * about it (the key routes' word and the runs' word). Pure: `now` is passed in.
 */
import type { ProcessingState } from "./processing-state";

/**
 * How far apart two clocks (a key route's, a run's) may be: evidence about the user's own key that
 * close in time to the other writer's is not trusted to be the later one.
 */
export const OWN_KEY_CLOCK_MARGIN_MS = 5 * 60_000;

/**
 * How long a "no key" word is trusted. Past it a run looks the key up again (and records what it
 * found), so a key document the word does not know of (a key route whose clock is more than
 * `OWN_KEY_CLOCK_MARGIN_MS` behind the processor's, a writer that predates the word, a restore) is
 * found within this time rather than never. About one read a week per user without a key.
 */
export const OWN_KEY_RECHECK_MS = 7 * 24 * 3_600_000;

/**
 * Whether a run at `now` must look the user's own key up. Not when the latest word on the state
 * is "no key", less than `OWN_KEY_RECHECK_MS` old: the key routes' (a key removed, or stored
 * fields written with none) or an earlier run's lookup that found no key document, with no key
 * route's write since. Two words within `OWN_KEY_CLOCK_MARGIN_MS` of each other are too close to
 * order, and an unknown state (an older one, or none) knows nothing: both mean a lookup, whose
 * result the run then records.
 */
export function ownKeyLookupNeeded(state: ProcessingState | null, now: number): boolean {
  if (!state) return true;
  const routeWord =
    state.ownKeyStored !== null && state.ownKeyChangedAt !== null
      ? { at: state.ownKeyChangedAt, present: state.ownKeyStored }
      : null;
  const runWord =
    state.ownKeyFound !== null && state.ownKeyCheckedAt !== null
      ? { at: state.ownKeyCheckedAt, present: state.ownKeyFound }
      : null;
  if (routeWord && runWord && Math.abs(routeWord.at - runWord.at) < OWN_KEY_CLOCK_MARGIN_MS) return true;
  const latest =
    routeWord && runWord ? (routeWord.at > runWord.at ? routeWord : runWord) : (routeWord ?? runWord);
  // Either way round: a word from a clock far ahead is not trusted for longer than one behind.
  return latest === null || latest.present || Math.abs(now - latest.at) >= OWN_KEY_RECHECK_MS;
}
