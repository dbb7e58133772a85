/**
 * The environment, parsed once with zod. Everything that varies between local, test and
 * production runs comes through here, so product code never branches on "is this a test".
 *
 * Malformed values fail on first use with a message naming the variable. Values that only
 * some routes need (the cron secret, the admin password, the LLM key) are optional here and
 * demanded by `requireSetting` where they are used, so one missing key does not take down
 * unrelated routes.
 */
import { z } from "zod";
import type { BreakerSettings } from "@/core/circuit-breaker";
import { AppError } from "@/core/errors";
import type { Keyring } from "@/core/key-cipher";
import type { QuotaLimits } from "@/core/quota";

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const nonNegativeInt = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);
const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === "" ? undefined : value))
  .optional();

const base64Key = z
  .string()
  .trim()
  .refine((value) => Buffer.from(value, "base64").length === 32, "must be 32 bytes, base64-encoded");

/**
 * The processor route's `maxDuration` (seconds). Next.js needs that export to be a literal in the
 * route file, so it is repeated there; a test checks the two agree.
 */
export const PROCESSOR_MAX_DURATION_SECONDS = 300;

/**
 * The scheduler route's `maxDuration` (seconds), repeated as a literal in the route file (a test
 * checks the two agree). A chain step's claim outlasts it (twice over, for clock skew between
 * instances), so a step still holding its claim is alive, and one past it died.
 */
export const SCHEDULER_MAX_DURATION_SECONDS = 60;

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),

  CRON_SECRET: optionalText.pipe(z.string().min(16, "must be at least 16 characters").optional()),
  ADMIN_PASSWORD: optionalText.pipe(z.string().min(8, "must be at least 8 characters").optional()),
  /** Signs admin session cookies; its own secret, so a cookie reveals nothing about the password. */
  ADMIN_SESSION_SECRET: optionalText.pipe(
    z.string().min(32, "must be at least 32 characters (e.g. `openssl rand -base64 32`)").optional(),
  ),
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
  ENABLE_TEST_ROUTES: z.stringbool().optional(),

  APP_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  VERCEL_ENV: optionalText,
  VERCEL_PROJECT_PRODUCTION_URL: optionalText,
  VERCEL_URL: optionalText,

  FIRESTORE_EMULATOR_HOST: optionalText,
  FIREBASE_PROJECT_ID: optionalText,
  FIREBASE_SERVICE_ACCOUNT: optionalText.pipe(
    z
      .string()
      .transform((value, context) => {
        try {
          return JSON.parse(value) as unknown;
        } catch {
          context.addIssue({ code: "custom", message: "must be the service account's JSON" });
          return z.NEVER;
        }
      })
      .pipe(
        z.looseObject({
          project_id: z.string(),
          client_email: z.string(),
          private_key: z.string(),
        }),
      )
      .optional(),
  ),
  GOOGLE_APPLICATION_CREDENTIALS: optionalText,

  OPENROUTER_API_KEY: optionalText,
  OPENROUTER_BASE_URL: z.url().default("https://openrouter.ai/api/v1"),
  COACHING_MODEL: z.string().min(1).default("anthropic/claude-sonnet-4.6"),
  SCORING_MODEL: z.string().min(1).default("anthropic/claude-sonnet-4.6"),
  LLM_TIMEOUT_MS: positiveInt(60_000),
  LLM_MAX_RETRIES: nonNegativeInt(1),

  RESEND_API_KEY: optionalText,
  RESEND_BASE_URL: optionalText.pipe(z.url().optional()),
  EMAIL_FROM: z.string().min(3).default("Coaching <coach@example.com>"),

  // Defaults from measurements (README, "Benchmarks": 2,555 dispatches/s to a local processor at
  // 20 in flight). A page is read, then dispatched, waiting for its slowest call before the next
  // read: at 50 in flight and 100 ms a call, pages of 100, 500 and 1,000 dispatched 445, 459 and
  // 444 users/s, so 500 costs nothing in throughput and issues a fifth of the queries of 100
  // (each a Firestore round trip), without holding much in memory.
  SCHEDULER_PAGE_SIZE: positiveInt(500),
  // Per run, and per step of a cron tick's chain. At the bench's 2,555 dispatches/s a 45 s budget
  // dispatches about 115,000 users, so the cap and the budget end a step at about the same point;
  // at any slower real rate (about 455/s at 100 ms a call, see DISPATCH_CONCURRENCY) the budget
  // ends it first and the chain carries on. The old 1,000 left 3,000 of 6,000 New York morning
  // users without their message every day (issue 12).
  SCHEDULER_MAX_USERS_PER_TICK: positiveInt(100_000),
  SCHEDULER_BOOTSTRAP_LIMIT: nonNegativeInt(200),
  SCHEDULER_TIME_BUDGET_MS: positiveInt(45_000),
  // Steps of one cron tick's chain (the cron call and its continuations), each at most the
  // route's 60 s: 24 steps end within about 24 minutes, before the next hour's tick, and take
  // 24 × the per-step throughput (at 455 dispatches/s, about 490,000 users) in one hour. At most
  // 60: more steps of up to a minute would run into the next hour's chain.
  SCHEDULER_MAX_CHAIN_STEPS: z.coerce.number().int().positive().max(60).default(24),
  /** At most 24, so a user who turns coaching back on without the app's event waits a day at most. */
  SCHEDULER_DISABLED_RECHECK_HOURS: z.coerce.number().int().positive().max(24).default(24),
  /** Ticks per pass of the unscheduled-user sweep; at most 24, so hourly ticks look at every user daily. */
  SCHEDULER_SWEEP_TICKS_PER_PASS: z.coerce.number().int().positive().max(24).default(20),
  SCHEDULER_SWEEP_MIN_PAGE_SIZE: positiveInt(500),
  SCHEDULER_SWEEP_MAX_PAGE_SIZE: positiveInt(50_000),
  // Processor calls in flight. Throughput is concurrency ÷ the latency of one call, measured with
  // the real scheduler and HTTP dispatcher against a local stand-in answering after 100 ms (the
  // processor route answers after its slot claim, a few Firestore round trips): 20 in flight
  // gave 190 dispatches/s, 50 gave 455/s, 100 gave 856/s (at 0 ms: 1,470, 2,750, 4,190/s). 50
  // drains a 20,000-user group of equal due times in one 45 s step while keeping the burst of
  // processor invocations starting at once moderate; raise it with the LLM ceiling.
  DISPATCH_CONCURRENCY: positiveInt(50),
  DISPATCH_TIMEOUT_MS: positiveInt(10_000),
  // A slot lease shorter than the run it guards would let a second worker take over a live run.
  PROCESSOR_LEASE_MS: positiveInt(600_000).refine(
    (leaseMs) => leaseMs > PROCESSOR_MAX_DURATION_SECONDS * 1_000,
    `must be longer than the processor route's maxDuration (${PROCESSOR_MAX_DURATION_SECONDS} s = ${PROCESSOR_MAX_DURATION_SECONDS * 1_000} ms), so a live run keeps its slot`,
  ),

  EVENT_BATCH_SIZE: positiveInt(20),
  EVENT_CONCURRENCY: positiveInt(5),
  EVENT_MAX_RETRIES: nonNegativeInt(5),
  EVENT_RETRY_BASE_MS: positiveInt(30_000),
  EVENT_RETRY_MAX_MS: positiveInt(3_600_000),
  EVENT_LEASE_MS: positiveInt(120_000),
  EVENT_TIME_BUDGET_MS: positiveInt(45_000),

  SUSPEND_AFTER_FAILURES: positiveInt(5),
  SUSPENSION_HOURS: positiveInt(24),
  BREAKER_FAILURE_THRESHOLD: positiveInt(20),
  BREAKER_COOLDOWN_MS: positiveInt(300_000),
  // Probe windows after the cool-down: a lost probe holds the breaker until its window ends. A
  // probe is one processor run, killed at the route's maxDuration, so a window of that length
  // never cuts short a healthy probe claimed at its start; one claimed late may overlap the next
  // window's probe (one extra call), which is cheaper than a longer outage.
  BREAKER_PROBE_TIMEOUT_MS: positiveInt(PROCESSOR_MAX_DURATION_SECONDS * 1_000),
  RETENTION_DAYS: positiveInt(30),
  CLEANUP_MAX_DELETES: positiveInt(5_000),

  QUOTA_PER_MINUTE: positiveInt(15),
  QUOTA_PER_DAY: positiveInt(1_500),
  QUOTA_PER_MONTH: positiveInt(45_000),
  QUOTA_MONTHLY_BUDGET_USD: z.coerce.number().nonnegative().default(5),
  OWN_KEY_QUOTA_PER_MINUTE: positiveInt(60),
  OWN_KEY_QUOTA_PER_DAY: positiveInt(10_000),
  OWN_KEY_QUOTA_PER_MONTH: positiveInt(300_000),
  INSIGHTS_MAX_BATCHES_PER_RUN: nonNegativeInt(3),
  FIREBASE_AUTH_EMULATOR_HOST: optionalText,

  JOURNAL_APP_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
});

type Env = z.infer<typeof envSchema>;

export interface AppConfig {
  env: Env;
  nodeEnv: Env["NODE_ENV"];
  /** Base URL the scheduler fans out to. */
  appUrl: string;
  testRoutesEnabled: boolean;
  firestore: {
    projectId: string;
    emulatorHost: string | undefined;
    serviceAccount: Env["FIREBASE_SERVICE_ACCOUNT"];
  };
  scheduler: {
    pageSize: number;
    maxUsersPerTick: number;
    bootstrapLimit: number;
    timeBudgetMs: number;
    disabledRecheckMs: number;
    sweepTicksPerPass: number;
    sweepMinPageSize: number;
    sweepMaxPageSize: number;
    dispatchConcurrency: number;
    dispatchTimeoutMs: number;
    /** Steps of one cron tick's chain at most (the cron call is step 0). */
    maxChainSteps: number;
    /** How long a chain step's claim holds: beyond the route's maxDuration. */
    chainStepLeaseMs: number;
  };
  processor: {
    /** How long a claimed slot stays with its worker; above the processor route's maxDuration (300 s). */
    leaseMs: number;
    suspension: { maxConsecutiveFailures: number; suspensionMs: number };
    breaker: BreakerSettings;
  };
  cleanup: { retentionMs: number; maxDeletes: number };
  quotas: { shared: QuotaLimits; ownKey: QuotaLimits };
  insights: { maxBatchesPerRun: number };
  llm: {
    baseURL: string;
    generationModel: string;
    scoringModel: string;
    timeoutMs: number;
    maxRetries: number;
  };
  email: {
    from: string;
    /** Where the journaling app shows an entry; `{entryId}` is replaced. */
    journalEntryUrl: (entryId: string) => string;
    preferencesUrl: string;
  };
  events: {
    batchSize: number;
    concurrency: number;
    maxRetries: number;
    baseDelayMs: number;
    maxDelayMs: number;
    leaseMs: number;
    timeBudgetMs: number;
  };
}

/** Settings that some routes cannot run without, demanded where they are used. */
export type RequiredSetting =
  | "CRON_SECRET"
  | "ADMIN_PASSWORD"
  | "ADMIN_SESSION_SECRET"
  | "ENCRYPTION_KEY"
  | "OPENROUTER_API_KEY"
  | "RESEND_API_KEY";

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join(".") || "environment"}: ${issue.message}`).join("; ");
}

function resolveAppUrl(env: Env): string {
  if (env.APP_URL) return env.APP_URL.replace(/\/+$/, "");
  // Vercel's production URL is the right target for cron-driven production runs; a preview
  // deployment fans out to itself.
  if (env.VERCEL_PROJECT_PRODUCTION_URL && env.VERCEL_ENV !== "preview") {
    return `https://${env.VERCEL_PROJECT_PRODUCTION_URL}`;
  }
  if (env.VERCEL_URL) return `https://${env.VERCEL_URL}`;
  return "http://localhost:3000";
}

function resolveProjectId(env: Env): string {
  const projectId = env.FIREBASE_PROJECT_ID ?? env.FIREBASE_SERVICE_ACCOUNT?.project_id;
  if (projectId) return projectId;
  if (env.FIRESTORE_EMULATOR_HOST) return "demo-coaching-engine";
  if (env.GOOGLE_APPLICATION_CREDENTIALS) return "";
  throw new AppError(
    "config:env",
    "FIREBASE_PROJECT_ID is not set (nor FIREBASE_SERVICE_ACCOUNT, GOOGLE_APPLICATION_CREDENTIALS or FIRESTORE_EMULATOR_HOST)",
  );
}

/** Parses an environment into the app's configuration; throws `config:env` naming each bad variable. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    throw new AppError("config:env", `Invalid configuration: ${describeIssues(parsed.error)}`);
  }
  const env = parsed.data;
  const appUrl = resolveAppUrl(env);
  const journalAppUrl = (env.JOURNAL_APP_URL ?? appUrl).replace(/\/+$/, "");
  return {
    env,
    nodeEnv: env.NODE_ENV,
    appUrl,
    testRoutesEnabled: env.ENABLE_TEST_ROUTES ?? env.NODE_ENV !== "production",
    firestore: {
      projectId: resolveProjectId(env),
      emulatorHost: env.FIRESTORE_EMULATOR_HOST,
      serviceAccount: env.FIREBASE_SERVICE_ACCOUNT,
    },
    scheduler: {
      pageSize: env.SCHEDULER_PAGE_SIZE,
      maxUsersPerTick: env.SCHEDULER_MAX_USERS_PER_TICK,
      bootstrapLimit: env.SCHEDULER_BOOTSTRAP_LIMIT,
      timeBudgetMs: env.SCHEDULER_TIME_BUDGET_MS,
      disabledRecheckMs: env.SCHEDULER_DISABLED_RECHECK_HOURS * 3_600_000,
      sweepTicksPerPass: env.SCHEDULER_SWEEP_TICKS_PER_PASS,
      sweepMinPageSize: env.SCHEDULER_SWEEP_MIN_PAGE_SIZE,
      sweepMaxPageSize: env.SCHEDULER_SWEEP_MAX_PAGE_SIZE,
      dispatchConcurrency: env.DISPATCH_CONCURRENCY,
      dispatchTimeoutMs: env.DISPATCH_TIMEOUT_MS,
      maxChainSteps: env.SCHEDULER_MAX_CHAIN_STEPS,
      chainStepLeaseMs: 2 * SCHEDULER_MAX_DURATION_SECONDS * 1_000,
    },
    processor: {
      leaseMs: env.PROCESSOR_LEASE_MS,
      suspension: {
        maxConsecutiveFailures: env.SUSPEND_AFTER_FAILURES,
        suspensionMs: env.SUSPENSION_HOURS * 3_600_000,
      },
      breaker: {
        failureThreshold: env.BREAKER_FAILURE_THRESHOLD,
        cooldownMs: env.BREAKER_COOLDOWN_MS,
        probeTimeoutMs: env.BREAKER_PROBE_TIMEOUT_MS,
      },
    },
    quotas: {
      shared: {
        perMinute: env.QUOTA_PER_MINUTE,
        perDay: env.QUOTA_PER_DAY,
        perMonth: env.QUOTA_PER_MONTH,
        monthlyBudgetUsd: env.QUOTA_MONTHLY_BUDGET_USD,
      },
      // A user's own key: their own rate limits, and no engine budget (they pay for it).
      ownKey: {
        perMinute: env.OWN_KEY_QUOTA_PER_MINUTE,
        perDay: env.OWN_KEY_QUOTA_PER_DAY,
        perMonth: env.OWN_KEY_QUOTA_PER_MONTH,
        monthlyBudgetUsd: null,
      },
    },
    insights: { maxBatchesPerRun: env.INSIGHTS_MAX_BATCHES_PER_RUN },
    cleanup: {
      retentionMs: env.RETENTION_DAYS * 24 * 3_600_000,
      maxDeletes: env.CLEANUP_MAX_DELETES,
    },
    llm: {
      baseURL: env.OPENROUTER_BASE_URL,
      generationModel: env.COACHING_MODEL,
      scoringModel: env.SCORING_MODEL,
      timeoutMs: env.LLM_TIMEOUT_MS,
      maxRetries: env.LLM_MAX_RETRIES,
    },
    email: {
      from: env.EMAIL_FROM,
      journalEntryUrl: (entryId) => `${journalAppUrl}/journal/${encodeURIComponent(entryId)}`,
      preferencesUrl: `${journalAppUrl}/settings/notifications`,
    },
    events: {
      batchSize: env.EVENT_BATCH_SIZE,
      concurrency: env.EVENT_CONCURRENCY,
      maxRetries: env.EVENT_MAX_RETRIES,
      baseDelayMs: env.EVENT_RETRY_BASE_MS,
      maxDelayMs: env.EVENT_RETRY_MAX_MS,
      leaseMs: env.EVENT_LEASE_MS,
      timeBudgetMs: env.EVENT_TIME_BUDGET_MS,
    },
  };
}

let cachedConfig: AppConfig | undefined;

/** The process's configuration, parsed on first use. */
export function getConfig(): AppConfig {
  cachedConfig ??= loadConfig();
  return cachedConfig;
}

/** A setting a route cannot run without; fails closed, naming the variable, when it is unset. */
export function requireSetting(config: AppConfig, name: RequiredSetting): string {
  const value = config.env[name];
  if (!value) throw new AppError("config:env", `${name} is not set`);
  return value;
}

/** The encryption keys for users' own API keys: the current one and any previous ones. */
export function requireKeyring(config: AppConfig): Keyring {
  const current = Buffer.from(requireSetting(config, "ENCRYPTION_KEY"), "base64");
  const version = config.env.ENCRYPTION_KEY_VERSION;
  const byVersion = new Map<number, Buffer>(
    (config.env.ENCRYPTION_PREVIOUS_KEYS ?? []).map(([keyVersion, key]) => [
      keyVersion,
      Buffer.from(key, "base64"),
    ]),
  );
  byVersion.set(version, current);
  return { current: { version, key: current }, byVersion };
}
