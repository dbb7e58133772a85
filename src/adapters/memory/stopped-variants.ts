/**
 * The in-memory twin of `systemState/promptExperiments` (adapters/firestore/prompt-experiment-store.ts)
 * for the simulations and the bench: the same cached reader over a set held in memory.
 */
import type { StoppedVariantsReader } from "@/pipeline/prompt-choice";
import { createCachedStopsReader, newStoppedVariantsCache } from "../prompt-experiment-stops";

export function createInMemoryStoppedVariants(stopped: Set<string> = new Set()): StoppedVariantsReader {
  return createCachedStopsReader({ read: async () => new Set(stopped), cache: newStoppedVariantsCache() });
}
