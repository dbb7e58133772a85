import { describe, expect, it } from "vitest";
import { OWN_KEY_CLOCK_MARGIN_MS, OWN_KEY_RECHECK_MS, ownKeyLookupNeeded } from "@/core/own-key-lookup";
import { emptyProcessingState, type ProcessingState } from "@/core/processing-state";

const T = 1_800_000_000_000;
const LATER = T + 2 * OWN_KEY_CLOCK_MARGIN_MS;

function stateWith(fields: Partial<ProcessingState>): ProcessingState {
  return { ...emptyProcessingState("u1", T), ...fields };
}

describe("whether a run looks the user's own key up", () => {
  it.each([
    ["no state at all", null, true],
    ["a state that knows nothing of keys (an older one)", stateWith({}), true],
    [
      "a run found no key, and no key route wrote since",
      stateWith({ ownKeyFound: false, ownKeyCheckedAt: T }),
      false,
    ],
    ["a run found a key", stateWith({ ownKeyFound: true, ownKeyCheckedAt: T }), true],
    ["the key routes removed the key", stateWith({ ownKeyStored: false, ownKeyChangedAt: T }), false],
    ["the key routes stored a key", stateWith({ ownKeyStored: true, ownKeyChangedAt: T }), true],
    [
      "a key stored after a run found none",
      stateWith({ ownKeyFound: false, ownKeyCheckedAt: T, ownKeyStored: true, ownKeyChangedAt: LATER }),
      true,
    ],
    [
      "a run that found none after the key was removed",
      stateWith({ ownKeyFound: false, ownKeyCheckedAt: LATER, ownKeyStored: false, ownKeyChangedAt: T }),
      false,
    ],
    [
      "a run that found none after a key was stored (it was removed by hand since)",
      stateWith({ ownKeyFound: false, ownKeyCheckedAt: LATER, ownKeyStored: true, ownKeyChangedAt: T }),
      false,
    ],
    [
      "a run's word and a key route's too close in time to order",
      stateWith({
        ownKeyFound: false,
        ownKeyCheckedAt: T + OWN_KEY_CLOCK_MARGIN_MS - 1,
        ownKeyStored: true,
        ownKeyChangedAt: T,
      }),
      true,
    ],
  ])("%s: %s", (_case, state, needed) => {
    // A run soon after the latest word (well within OWN_KEY_RECHECK_MS).
    expect(ownKeyLookupNeeded(state, LATER + 60_000)).toBe(needed);
  });

  // A key document written without the word, or with a word that loses to an earlier run's "none"
  // (a key route's clock more than the margin behind the processor's, a writer that predates the
  // word, a restore): the "no key" word must not hide it for ever.
  it.each([
    [
      "a run found none, and a key route with a slow clock stored one after it",
      stateWith({
        ownKeyFound: false,
        ownKeyCheckedAt: T,
        ownKeyStored: true,
        ownKeyChangedAt: T - OWN_KEY_CLOCK_MARGIN_MS - 60_000,
      }),
    ],
    [
      "a run found none, and a key was written without the word",
      stateWith({ ownKeyFound: false, ownKeyCheckedAt: T }),
    ],
    ["the key routes removed the key", stateWith({ ownKeyStored: false, ownKeyChangedAt: T })],
  ])("looks again once the latest 'no key' word is OWN_KEY_RECHECK_MS old: %s", (_case, state) => {
    expect(ownKeyLookupNeeded(state, T + OWN_KEY_RECHECK_MS - 1)).toBe(false);
    expect(ownKeyLookupNeeded(state, T + OWN_KEY_RECHECK_MS)).toBe(true);
  });

  it("a word from the future (another clock ahead) is not trusted for longer than the recheck", () => {
    const state = stateWith({ ownKeyFound: false, ownKeyCheckedAt: T + OWN_KEY_RECHECK_MS });
    expect(ownKeyLookupNeeded(state, T)).toBe(true);
  });
});
