/**
 * `LLM_CALLS_PER_MINUTE` must admit a whole run: a reservation lands whole in one shard, so a
 * ceiling smaller than a run's first reservation (up to MAX_LLM_CALLS_PER_RUN calls) would refuse
 * that run every minute, for ever, without failing the user (a silent starvation loop).
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "@/config";
import { MAX_LLM_CALLS_PER_RUN } from "@/core/due-slot";

const BASE_ENV = { NODE_ENV: "production", FIRESTORE_EMULATOR_HOST: "127.0.0.1:1" } as const;

describe("LLM_CALLS_PER_MINUTE", () => {
  it.each(["1", "2", String(MAX_LLM_CALLS_PER_RUN - 1)])(
    "rejects a ceiling of %s, below one run's calls",
    (limit) => {
      expect(() => loadConfig({ ...BASE_ENV, LLM_CALLS_PER_MINUTE: limit })).toThrow(/LLM_CALLS_PER_MINUTE/);
    },
  );

  it("accepts a ceiling of one run's calls or more, and none at all", () => {
    expect(
      loadConfig({ ...BASE_ENV, LLM_CALLS_PER_MINUTE: String(MAX_LLM_CALLS_PER_RUN) }).llmCeiling,
    ).toEqual({
      callsPerMinute: MAX_LLM_CALLS_PER_RUN,
    });
    expect(loadConfig(BASE_ENV).llmCeiling).toBeNull();
  });
});
