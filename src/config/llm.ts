/**
 * The LLM side: OpenRouter, the engine's key and users' own keys, the per-user quotas and the
 * global ceiling, and the processor's lease, suspension and circuit breaker around its calls.
 */
import { z } from "zod";
import type { BreakerSettings } from "@/core/circuit-breaker";
import { MAX_LLM_CALLS_PER_RUN } from "@/core/due-slot";
import type { Keyring } from "@/core/key-cipher";
import type { QuotaLimits } from "@/core/quota";
import { atLeastOneRun, base64Key, nonNegativeInt, optionalText, positiveInt, quotaLimit } from "./fields";
import { PROCESSOR_MAX_DURATION_SECONDS, PROCESSOR_NON_LLM_MARGIN_MS } from "./limits";

/** Longest helpline text: it is a paragraph under the message, which must still fit MESSAGE_MAX_LENGTH. */
export const SAFETY_RESOURCE_MAX_LENGTH = 400;

/** SAFETY_RESOURCES: `{"en":"…","es":"…","default":"…"}`, keys language tags or `default`. */
const safetyResourcesJson = z
  .string()
  .transform((value, context) => {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      context.addIssue({ code: "custom", message: 'must be JSON, e.g. {"en":"…","default":"…"}' });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .record(
        z
          .string()
          .regex(
            /^(default|[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*)$/,
            "keys are language tags (en, pt-BR) or default",
          ),
        z
          .string()
          .trim()
          .min(1, "a text must not be empty")
          .max(SAFETY_RESOURCE_MAX_LENGTH, `a text must be at most ${SAFETY_RESOURCE_MAX_LENGTH} characters`)
          // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
          .refine((text) => !/[\u0000-\u0008\u000B-\u001F\u007F]/.test(text), "no control characters"),
      )
      .refine((table) => Object.keys(table).length > 0, "must name at least one language or default")
      // Looked up by primary subtag in lower case (core/risk.ts `safetyResourceFor`).
      .transform((table) =>
        Object.fromEntries(
          Object.entries(table).map(([key, text]) => [key === "default" ? key : normaliseTag(key), text]),
        ),
      ),
  );

/** `pt_br`/`PT-br` → `pt-BR`, as `canonicalLocale` writes tags; a primary subtag alone in lower case. */
function normaliseTag(tag: string): string {
  try {
    return Intl.getCanonicalLocales(tag)[0] ?? tag.toLowerCase();
  } catch {
    return tag.toLowerCase();
  }
}

export const llmEnv = z.object({
  OPENROUTER_API_KEY: optionalText,
  OPENROUTER_BASE_URL: optionalText.pipe(z.url().default("https://openrouter.ai/api/v1")),
  COACHING_MODEL: z.string().min(1).default("anthropic/claude-sonnet-4.6"),
  SCORING_MODEL: z.string().min(1).default("anthropic/claude-sonnet-4.6"),
  // A whole call, the AI SDK's retries included. A run makes up to MAX_LLM_CALLS_PER_RUN calls
  // one after another, and all of them, with the run's Firestore work and its delivery, must end
  // inside the processor's maxDuration: a run killed there counts as unfinished (towards
  // suspension) and wastes its tokens. 4 × 45 s = 180 s leaves 120 s; 60 s would take all 300 s.
  LLM_TIMEOUT_MS: positiveInt(45_000).refine(
    (timeoutMs) =>
      timeoutMs * MAX_LLM_CALLS_PER_RUN + PROCESSOR_NON_LLM_MARGIN_MS <
      PROCESSOR_MAX_DURATION_SECONDS * 1_000,
    `× ${MAX_LLM_CALLS_PER_RUN} LLM calls a run + ${PROCESSOR_NON_LLM_MARGIN_MS / 1_000} s for the rest of the run must stay under the processor route's maxDuration (${PROCESSOR_MAX_DURATION_SECONDS} s): at most ${Math.ceil((PROCESSOR_MAX_DURATION_SECONDS * 1_000 - PROCESSOR_NON_LLM_MARGIN_MS) / MAX_LLM_CALLS_PER_RUN) - 1} ms`,
  ),
  // The AI SDK's own default: a failed request (5xx, 429, a dropped connection) is sent again
  // after 2 s, then 4 s, inside LLM_TIMEOUT_MS. A call that still fails ends the run, and the
  // contract's retry comes 2–8 h later — for an evening user (18:00–21:00, target 19:00) that is
  // past the window. At a 5 % request failure rate, 1 retry let 0.5 % of runs fail and 11 of
  // 1,000,000 users go two windows without a message in 3 days; 2 retries make that about 0.03 %
  // (docs/benchmarks.md, capacity).
  LLM_MAX_RETRIES: nonNegativeInt(2),

  ENCRYPTION_KEY: optionalText.pipe(base64Key.optional()),
  /** The version records sealed with ENCRYPTION_KEY carry; raise it when rotating. */
  ENCRYPTION_KEY_VERSION: positiveInt(1),
  /** Keys that sealed older records, "version:base64key" comma-separated, kept until rewritten. */
  ENCRYPTION_PREVIOUS_KEYS: optionalText.pipe(
    z
      .string()
      .transform((value, context) => {
        const keys: [number, string][] = [];
        for (const part of value.split(",")) {
          const [version, key] = part.trim().split(":");
          if (!version || !key || !/^\d+$/.test(version) || Buffer.from(key, "base64").length !== 32) {
            context.addIssue({
              code: "custom",
              message: 'must be "version:base64key" pairs of 32-byte keys',
            });
            return z.NEVER;
          }
          keys.push([Number(version), key]);
        }
        return keys;
      })
      .optional(),
  ),

  // A slot lease shorter than the run it guards would let a second worker take over a live run.
  PROCESSOR_LEASE_MS: positiveInt(600_000).refine(
    (leaseMs) => leaseMs > PROCESSOR_MAX_DURATION_SECONDS * 1_000,
    `must be longer than the processor route's maxDuration (${PROCESSOR_MAX_DURATION_SECONDS} s = ${PROCESSOR_MAX_DURATION_SECONDS * 1_000} ms), so a live run keeps its slot`,
  ),
  SUSPEND_AFTER_FAILURES: positiveInt(5),
  SUSPENSION_HOURS: positiveInt(24),
  BREAKER_FAILURE_THRESHOLD: positiveInt(20),
  // At most an hour: while open every due user is deferred to their retry interval, and a longer
  // cool-down would defer a whole hourly tick after the provider has recovered.
  BREAKER_COOLDOWN_MS: positiveInt(300_000).pipe(
    z.number().max(3_600_000, "must be at most 3600000 (1 hour)"),
  ),
  // Probe windows after the cool-down: a lost probe holds the breaker until its window ends. A
  // probe is one processor run, killed at the route's maxDuration, so a window of that length
  // never cuts short a healthy probe claimed at its start; one claimed late may overlap the next
  // window's probe (one extra call), which is cheaper than a longer outage.
  // At most three processor runs: a probe still unreported by then is lost, not slow, and every
  // due user waits on it.
  BREAKER_PROBE_TIMEOUT_MS: positiveInt(PROCESSOR_MAX_DURATION_SECONDS * 1_000).pipe(
    z
      .number()
      .max(
        3 * PROCESSOR_MAX_DURATION_SECONDS * 1_000,
        `must be at most ${3 * PROCESSOR_MAX_DURATION_SECONDS * 1_000} (three times the processor's maxDuration)`,
      ),
  ),

  // Each at least one run's calls: a run is admitted whole (adapters/quota-gate.ts `admitRun`), so
  // a smaller limit would refuse it whenever its window frees, for ever, as a deferral.
  QUOTA_PER_MINUTE: quotaLimit(15),
  QUOTA_PER_DAY: quotaLimit(1_500),
  QUOTA_PER_MONTH: quotaLimit(45_000),
  QUOTA_MONTHLY_BUDGET_USD: z.coerce.number().nonnegative().default(5),
  OWN_KEY_QUOTA_PER_MINUTE: quotaLimit(60),
  OWN_KEY_QUOTA_PER_DAY: quotaLimit(10_000),
  OWN_KEY_QUOTA_PER_MONTH: quotaLimit(300_000),
  INSIGHTS_MAX_BATCHES_PER_RUN: nonNegativeInt(3),
  /**
   * The global ceiling on LLM calls per minute across every processor invocation (the provider's
   * rate limit, less a margin). Unset: no ceiling (the feature is off, not broken). At least one
   * run's calls: a reservation lands whole in one shard of the ceiling, so a smaller ceiling would
   * refuse such a run every minute, for ever, without failing the user.
   */
  LLM_CALLS_PER_MINUTE: atLeastOneRun().optional(),
  /**
   * The helpline text appended to a message whose entries suggest distress (docs/generation.md
   * "Safety"): JSON, a short plain text per BCP 47 language or tag and an optional `default`.
   * Unset: neutral texts that point to local emergency services (the feature is on either way).
   */
  SAFETY_RESOURCES: optionalText.pipe(safetyResourcesJson.optional()),
  /**
   * Where the running prompt experiment's variant files are (docs/generation.md "Prompt
   * experiments"), relative to the project root. Unset: `prompts/variants`, which ships with the
   * deployment; no variant file there: no experiment.
   */
  PROMPT_VARIANTS_DIR: optionalText,
});

type LlmEnv = z.output<typeof llmEnv>;

/** The keys users' own API keys are sealed with: the current one and any previous ones. */
function keyringFrom(env: LlmEnv): Keyring | null {
  if (!env.ENCRYPTION_KEY) return null;
  const current = Buffer.from(env.ENCRYPTION_KEY, "base64");
  const version = env.ENCRYPTION_KEY_VERSION;
  const byVersion = new Map<number, Buffer>(
    (env.ENCRYPTION_PREVIOUS_KEYS ?? []).map(([keyVersion, key]) => [keyVersion, Buffer.from(key, "base64")]),
  );
  byVersion.set(version, current);
  return { current: { version, key: current }, byVersion };
}

/** The LLM side's part of the configuration. */
export function llmSettings(env: LlmEnv) {
  const shared: QuotaLimits = {
    perMinute: env.QUOTA_PER_MINUTE,
    perDay: env.QUOTA_PER_DAY,
    perMonth: env.QUOTA_PER_MONTH,
    monthlyBudgetUsd: env.QUOTA_MONTHLY_BUDGET_USD,
  };
  // A user's own key: their own rate limits, and no engine budget (they pay for it).
  const ownKey: QuotaLimits = {
    perMinute: env.OWN_KEY_QUOTA_PER_MINUTE,
    perDay: env.OWN_KEY_QUOTA_PER_DAY,
    perMonth: env.OWN_KEY_QUOTA_PER_MONTH,
    monthlyBudgetUsd: null,
  };
  const breaker: BreakerSettings = {
    failureThreshold: env.BREAKER_FAILURE_THRESHOLD,
    cooldownMs: env.BREAKER_COOLDOWN_MS,
    probeTimeoutMs: env.BREAKER_PROBE_TIMEOUT_MS,
  };
  return {
    llm: {
      /**
       * The engine's own key (OPENROUTER_API_KEY). Null: the processor refuses to run
       * (`requireSetting`) and journal insights are off.
       */
      defaultApiKey: env.OPENROUTER_API_KEY ?? null,
      /** An OpenRouter-compatible endpoint: the sandbox in tests and locally. */
      baseURL: env.OPENROUTER_BASE_URL,
      generationModel: env.COACHING_MODEL,
      scoringModel: env.SCORING_MODEL,
      timeoutMs: env.LLM_TIMEOUT_MS,
      maxRetries: env.LLM_MAX_RETRIES,
    },
    /**
     * Users' own keys, sealed with these keys (ENCRYPTION_KEY and its predecessors). Null: no
     * user can store or use a key of their own, and every run uses the engine's.
     */
    ownKeyEncryption: keyringFrom(env),
    quotas: { shared, ownKey },
    /** The global LLM ceiling (LLM_CALLS_PER_MINUTE); null when unset (no ceiling). */
    llmCeiling: env.LLM_CALLS_PER_MINUTE ? { callsPerMinute: env.LLM_CALLS_PER_MINUTE } : null,
    insights: { maxBatchesPerRun: env.INSIGHTS_MAX_BATCHES_PER_RUN },
    /** SAFETY_RESOURCES as configured; null when unset (then core/risk.ts's neutral texts). */
    safety: { resources: env.SAFETY_RESOURCES ?? null },
    /** PROMPT_VARIANTS_DIR; null: `prompts/variants` (adapters/prompts.ts). */
    promptVariantsDirectory: env.PROMPT_VARIANTS_DIR ?? null,
    processor: {
      /** How long a claimed slot stays with its worker; above the processor route's maxDuration (300 s). */
      leaseMs: env.PROCESSOR_LEASE_MS,
      suspension: {
        maxConsecutiveFailures: env.SUSPEND_AFTER_FAILURES,
        suspensionMs: env.SUSPENSION_HOURS * 3_600_000,
      },
      breaker,
    },
  };
}
