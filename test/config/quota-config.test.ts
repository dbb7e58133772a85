/**
 * The per-user quotas must admit a whole run: since quotas are checked once per run for all the
 * calls it expects (adapters/quota-gate.ts `admitRun`), a minute, day or month limit below a run's
 * first admission (up to MAX_LLM_CALLS_PER_RUN calls) refuses that run every time its window
 * frees, for ever, as a deferral that never fails the user (a silent starvation loop).
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "@/config";
import { MAX_LLM_CALLS_PER_RUN } from "@/core/due-slot";

const BASE_ENV = { NODE_ENV: "production", FIRESTORE_EMULATOR_HOST: "127.0.0.1:1" } as const;
const QUOTA_VARIABLES = [
  "QUOTA_PER_MINUTE",
  "QUOTA_PER_DAY",
  "QUOTA_PER_MONTH",
  "OWN_KEY_QUOTA_PER_MINUTE",
  "OWN_KEY_QUOTA_PER_DAY",
  "OWN_KEY_QUOTA_PER_MONTH",
] as const;

describe("per-user quota limits", () => {
  it.each(QUOTA_VARIABLES)("%s below one run's calls is refused, naming the variable", (name) => {
    expect(() => loadConfig({ ...BASE_ENV, [name]: String(MAX_LLM_CALLS_PER_RUN - 1) })).toThrow(
      new RegExp(name),
    );
  });

  it.each(QUOTA_VARIABLES)("%s of one run's calls is accepted", (name) => {
    expect(() => loadConfig({ ...BASE_ENV, [name]: String(MAX_LLM_CALLS_PER_RUN) })).not.toThrow();
  });
});
