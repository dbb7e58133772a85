/**
 * The building blocks of the environment's schema. Optional text settings (secrets, URLs, keys)
 * go through `optionalText`: an empty or blank value counts as unset, so a deployment that clears
 * a field in Vercel's form gets the default, or the feature off, instead of a start-up failure.
 */
import { z } from "zod";
import { MAX_LLM_CALLS_PER_RUN } from "@/core/due-slot";

export const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

export const nonNegativeInt = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);

/** At least the most LLM calls one run is admitted for at once (a smaller limit would starve a run for ever). */
export const atLeastOneRun = () =>
  z.coerce
    .number()
    .int()
    .min(MAX_LLM_CALLS_PER_RUN, `must be at least ${MAX_LLM_CALLS_PER_RUN}, the most LLM calls of one run`);

/** A per-user quota limit: at least one run's calls. */
export const quotaLimit = (fallback: number) => atLeastOneRun().default(fallback);

/** Text that counts as unset when empty or blank; pipe it into the value's own schema. */
export const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === "" ? undefined : value))
  .optional();

export const base64Key = z
  .string()
  .trim()
  .refine((value) => Buffer.from(value, "base64").length === 32, "must be 32 bytes, base64-encoded");

/** Ends a URL without its trailing slashes, so paths can be appended. */
export function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, "");
}
