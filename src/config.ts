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
import { MAX_LLM_CALLS_PER_RUN } from "@/core/due-slot";
import { AppError } from "@/core/errors";
import type { Keyring } from "@/core/key-cipher";
import type { QuotaLimits } from "@/core/quota";

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const nonNegativeInt = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);
/** A per-user quota limit: at least the most LLM calls one run is admitted for at once. */
const quotaLimit = (fallback: number) =>
  z.coerce
    .number()
    .int()
    .min(MAX_LLM_CALLS_PER_RUN, `must be at least ${MAX_LLM_CALLS_PER_RUN}, the most LLM calls of one run`)
    .default(fallback);
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

/**
 * No step of an hour's scheduler chain starts after this minute of the hour: a step started then
 * ends within the route's maxDuration, before the next hour's chain starts (checked).
 */
export const SCHEDULER_CHAIN_LAST_START_MINUTE = 55;

/** Resend's API, when RESEND_BASE_URL does not point elsewhere (the mail catcher in dev and tests). */
export const RESEND_DEFAULT_BASE_URL = "https://api.resend.com";

/** The one-click unsubscribe page and endpoint (src/app/unsubscribe/route.ts), carried in `List-Unsubscribe`. */
export const UNSUBSCRIBE_PATH = "/unsubscribe";

/** Time a processor run needs besides its LLM calls: Firestore reads and writes, the delivery after. */
const PROCESSOR_NON_LLM_MARGIN_MS = 60_000;

/**
 * The outbox drain route's (`/api/events/process-batch`) `maxDuration` (seconds), repeated as a
 * literal in the route file and vercel.json (a test checks they agree).
 */
export const EVENTS_MAX_DURATION_SECONDS = 60;
/** How long a drain waits for its continuation call to be accepted (the route answers 202 at once). */
export const EVENT_CONTINUATION_TIMEOUT_MS = 5_000;
/** Kept free at the end of a drain for the last writes of the events in flight. */
const EVENT_DRAIN_MARGIN_MS = 5_000;
/**
 * Time from a drain's start by which every handler it runs must have ended: the route's
 * maxDuration less the continuation call and the last writes (50 s). The insights handler starts
 * no LLM call that could outlast it.
 */
const EVENT_HANDLER_DEADLINE_MS =
  EVENTS_MAX_DURATION_SECONDS * 1_000 - EVENT_CONTINUATION_TIMEOUT_MS - EVENT_DRAIN_MARGIN_MS;

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
  /** "1" on Vercel: the sign-in throttle then reads the client address Vercel's edge sets. */
  VERCEL: optionalText,
  /**
   * Off Vercel: how many proxies in front append to X-Forwarded-For after the one nearest the
   * client (0: the rightmost entry is the client's address). See `clientAddressFrom`. No
   * default: unset, X-Forwarded-For is not trusted at all (a client reaching `next start`
   * directly writes it) and every sign-in counts as one "unknown" address.
   */
  TRUSTED_PROXY_HOPS: optionalText.pipe(z.coerce.number<string>().int().nonnegative().optional()),
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

  RESEND_API_KEY: optionalText,
  RESEND_BASE_URL: optionalText.pipe(z.url().optional()),
  /** Each Resend call is aborted after this (a retriable failure); see `eventTimingProblems`. */
  RESEND_TIMEOUT_MS: positiveInt(10_000),
  EMAIL_FROM: z.string().min(3).default("Coaching <coach@example.com>"),
  /**
   * Signs the one-click unsubscribe links (`List-Unsubscribe`, the email's footer). Unset: no
   * unsubscribe header or link is sent and the unsubscribe URL answers 404 (off, not broken).
   */
  UNSUBSCRIBE_SECRET: optionalText.pipe(
    z.string().min(32, "must be at least 32 characters (e.g. `openssl rand -base64 32`)").optional(),
  ),
  /** A mailbox for `mailto:` unsubscribe requests, added to `List-Unsubscribe` when set. */
  UNSUBSCRIBE_MAILTO: optionalText.pipe(z.email().optional()),
  /**
   * Web Push (VAPID, RFC 8292): the key pair (`npx web-push generate-vapid-keys`) and a contact
   * (`mailto:` or `https:`). All three or none; unset, push is off (recorded as not delivered).
   */
  VAPID_PUBLIC_KEY: optionalText.pipe(
    z
      .string()
      .refine(
        (value) => Buffer.from(value, "base64url").length === 65,
        "must be a P-256 public key, base64url (65 bytes)",
      )
      .optional(),
  ),
  VAPID_PRIVATE_KEY: optionalText.pipe(
    z
      .string()
      .refine(
        (value) => Buffer.from(value, "base64url").length === 32,
        "must be a P-256 private key, base64url (32 bytes)",
      )
      .optional(),
  ),
  VAPID_SUBJECT: optionalText.pipe(
    z
      .string()
      .regex(/^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+)$/, "must be a mailto: address or an https: URL")
      .optional(),
  ),
  /** Each push request is aborted after this (a retriable failure); see `eventTimingProblems`. */
  PUSH_TIMEOUT_MS: positiveInt(5_000),
  /**
   * Origins besides the browsers' push services that subscriptions may point at, comma-separated
   * (the local push service of `npm run dev` and tests). Never needed in production.
   */
  PUSH_SERVICE_ORIGINS: optionalText.pipe(
    z
      .string()
      .transform((value) =>
        value
          .split(",")
          .map((origin) => origin.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.url({ protocol: /^https?$/ }).transform((origin) => new URL(origin).origin)))
      .optional(),
  ),
  /** The signing secret of the Resend webhook (`whsec_…`); unset, the webhook route answers 404. */
  RESEND_WEBHOOK_SECRET: optionalText.pipe(
    z
      .string()
      .startsWith("whsec_", "must be the signing secret Resend shows (whsec_…)")
      // The svix library decodes the rest as padded base64 and throws on anything else: a
      // truncated paste would otherwise make every webhook delivery a 500 naming nothing.
      .regex(
        /^whsec_(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$/,
        "must be whsec_ followed by the base64 key Resend shows, copied whole",
      )
      .optional(),
  ),

  // Defaults from measurements (docs/benchmarks.md: 2,555 dispatches/s to a local processor at
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
  // With the timeouts of a dispatch and of the continuation and a margin for the last writes,
  // within the route's 60 s (checked: `schedulerTimingProblems`): 40 + 8 + 5 + 5 = 58 s.
  SCHEDULER_TIME_BUDGET_MS: positiveInt(40_000),
  // Steps of one cron tick's chain (the cron call and its continuations) at most. Time bounds a
  // chain: no step starts after minute SCHEDULER_CHAIN_LAST_START_MINUTE (55) of its hour, and
  // each ends within the route's 60 s, so a chain ends before the next hour's starts. A step that
  // has more to do runs its whole 40 s budget (a chain paced to the LLM ceiling waits within it
  // for the next minute), so a chain takes at most about 55 × 60 / 40 ≈ 83 steps an hour; 100
  // leaves room and still stops a chain whose steps would, by some fault, end early.
  SCHEDULER_MAX_CHAIN_STEPS: positiveInt(100),
  // Writes on `users` (whose `nextCoachingMessageDue` is indexed in sequence, Firestore's
  // ~500 writes/s soft limit) that the scheduler causes: each processor run it starts writes its
  // user's due time once (300/s), and its own reschedules, bootstraps and ranks (150/s): 450/s at
  // most together, with room for the app's writes. 300 dispatches/s drain 80,000 users due at one
  // instant (New York's daily morning users at 1,000,000) in under 5 minutes.
  SCHEDULER_DISPATCHES_PER_SECOND: positiveInt(300),
  SCHEDULER_USER_WRITES_PER_SECOND: positiveInt(150),
  /** Timeout of the call that starts a chain's next step (the route answers 202 before any work). */
  SCHEDULER_CONTINUATION_TIMEOUT_MS: positiveInt(5_000),
  /**
   * Time each chain step reserves, before its due users, for the sweep for users without a
   * numeric due time (only while some user has none), so the sweep keeps its daily pass under a
   * backlog that fills every step. Below SCHEDULER_TIME_BUDGET_MS (checked).
   */
  SCHEDULER_SWEEP_SLICE_MS: positiveInt(4_000),
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
  // keeps SCHEDULER_DISPATCHES_PER_SECOND (300/s, the pace that bounds writes on `users`) the
  // limit up to about 165 ms a call, while keeping the burst of processor invocations moderate.
  DISPATCH_CONCURRENCY: positiveInt(50),
  // The processor route answers 202 after its slot claim (a few Firestore round trips; a cold
  // start adds a second or two). Counts toward a step's 60 s (see SCHEDULER_TIME_BUDGET_MS).
  DISPATCH_TIMEOUT_MS: positiveInt(8_000),
  // A slot lease shorter than the run it guards would let a second worker take over a live run.
  PROCESSOR_LEASE_MS: positiveInt(600_000).refine(
    (leaseMs) => leaseMs > PROCESSOR_MAX_DURATION_SECONDS * 1_000,
    `must be longer than the processor route's maxDuration (${PROCESSOR_MAX_DURATION_SECONDS} s = ${PROCESSOR_MAX_DURATION_SECONDS * 1_000} ms), so a live run keeps its slot`,
  ),

  EVENT_BATCH_SIZE: positiveInt(20),
  EVENT_CONCURRENCY: positiveInt(5),
  // Retriable failures (Resend down, 429s) are retried until the event is EVENT_MAX_AGE_HOURS
  // old, with a backoff capped at EVENT_RETRY_MAX_MS (30 s, 1 min, … 1 h): about 40 tries a day.
  // EVENT_MAX_RETRIES caps the attempts whatever the age, above that, so it ends runs that never
  // report back (killed), which back off the same way; at least 1, so a killed run is retried.
  EVENT_MAX_RETRIES: positiveInt(50),
  // At most 23 h: Resend keeps an idempotency key 24 h, so every retry of an email stays within
  // the first attempt's key (past that, see the delivery's `outcomeUnknownSince` guard).
  EVENT_MAX_AGE_HOURS: z.coerce.number().int().positive().max(23).default(23),
  EVENT_RETRY_BASE_MS: positiveInt(30_000),
  EVENT_RETRY_MAX_MS: positiveInt(3_600_000),
  // A claim outlives the drain run that made it (killed at the route's maxDuration at the latest),
  // so no second worker takes over an event whose run is still alive.
  EVENT_LEASE_MS: positiveInt(120_000).refine(
    (leaseMs) => leaseMs > EVENTS_MAX_DURATION_SECONDS * 1_000,
    `must be longer than the drain route's maxDuration (${EVENTS_MAX_DURATION_SECONDS} s = ${EVENTS_MAX_DURATION_SECONDS * 1_000} ms), so a live run keeps its event`,
  ),
  // No event starts after the budget; one started just before it ends within RESEND_TIMEOUT_MS,
  // PUSH_TIMEOUT_MS and a few writes, then the continuation call: 35 + 10 + 5 + 5 + 5 = 60 s
  // (checked). Insights events make LLM calls (LLM_TIMEOUT_MS each): they start none that could
  // end after 50 s.
  EVENT_TIME_BUDGET_MS: positiveInt(35_000),
  /** Times a drain that ran out of budget with work left calls itself again (each call: one more drain). */
  EVENT_MAX_CONTINUATIONS: z.coerce.number().int().nonnegative().max(10).default(4),

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
  RETENTION_DAYS: positiveInt(30),
  CLEANUP_MAX_DELETES: positiveInt(5_000),

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
  LLM_CALLS_PER_MINUTE: z.coerce
    .number()
    .int()
    .min(MAX_LLM_CALLS_PER_RUN, `must be at least ${MAX_LLM_CALLS_PER_RUN}, the most LLM calls of one run`)
    .optional(),
  FIREBASE_AUTH_EMULATOR_HOST: optionalText,
  /** Lets FIREBASE_AUTH_EMULATOR_HOST stand on Vercel, for a deployment that really uses the emulator. */
  ALLOW_AUTH_EMULATOR_ON_VERCEL: z.stringbool().optional(),

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
    /** From a step's start: processor calls still in flight are aborted then (budget + dispatch timeout). */
    dispatchDeadlineMs: number;
    continuationTimeoutMs: number;
    sweepSliceMs: number;
    /** Steps of one cron tick's chain at most (the cron call is step 0). */
    maxChainSteps: number;
    /** No step of a chain starts after this minute of its hour (SCHEDULER_CHAIN_LAST_START_MINUTE). */
    chainLastStartMinute: number;
    /** Processor calls started per second at most (each run writes its user's due time once). */
    dispatchesPerSecond: number;
    /** The scheduler's own writes on `users` per second at most. */
    userWritesPerSecond: number;
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
  /** The global LLM ceiling (`LLM_CALLS_PER_MINUTE`); null when unset (no ceiling). */
  llmCeiling: { callsPerMinute: number } | null;
  llm: {
    baseURL: string;
    generationModel: string;
    scoringModel: string;
    timeoutMs: number;
    maxRetries: number;
  };
  email: {
    from: string;
    /** The Resend API's base URL, handed to the SDK (never read by it from the environment). */
    resendBaseUrl: string;
    /** Absent without UNSUBSCRIBE_SECRET: no unsubscribe link or header (off, not broken). */
    unsubscribe: { secret: string; pageUrl: string; mailto: string | null } | null;
    /** Absent without RESEND_WEBHOOK_SECRET: the webhook route is off. */
    webhookSecret: string | null;
    /** Where the journaling app shows an entry; `{entryId}` is replaced. */
    journalEntryUrl: (entryId: string) => string;
    preferencesUrl: string;
  };
  push: {
    /** Absent without the VAPID keys: push is off (recorded as not delivered, with the reason). */
    vapid: { publicKey: string; privateKey: string; subject: string } | null;
    /** Origins besides the browsers' push services that subscriptions may point at. */
    extraOrigins: string[];
    timeoutMs: number;
  };
  events: {
    batchSize: number;
    concurrency: number;
    maxRetries: number;
    baseDelayMs: number;
    maxDelayMs: number;
    /** Retriable failures are retried until the event is this old (since created or requeued). */
    maxAgeMs: number;
    leaseMs: number;
    timeBudgetMs: number;
    /** Time from a drain's start by which its handlers must have ended (see EVENT_HANDLER_DEADLINE_MS). */
    handlerDeadlineMs: number;
    maxContinuations: number;
    /** Each Resend call's timeout. */
    emailTimeoutMs: number;
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

/**
 * Time left after a scheduler step's budget for its last writes (the step's claim and summary):
 * a step must end within the route's maxDuration, or it is killed before it records its work.
 */
export const SCHEDULER_STEP_MARGIN_MS = 5_000;

/**
 * The scheduler's timing must fit its route. A step dispatches until SCHEDULER_TIME_BUDGET_MS;
 * a call started just before may take DISPATCH_TIMEOUT_MS (calls still in flight then are
 * aborted); the next step is started within SCHEDULER_CONTINUATION_TIMEOUT_MS; then the last
 * writes. Summed (the parts overlap at run time, so the sum bounds them), it stays below the
 * route's maxDuration (a paced step's waits, for its minute and the next, count toward its
 * budget). And a chain's last step, started by SCHEDULER_CHAIN_LAST_START_MINUTE, ends before
 * the next hour's chain starts.
 */
function schedulerTimingProblems(env: Env): string[] {
  const problems: string[] = [];
  const maxDurationMs = SCHEDULER_MAX_DURATION_SECONDS * 1_000;
  const stepMs =
    env.SCHEDULER_TIME_BUDGET_MS +
    env.DISPATCH_TIMEOUT_MS +
    env.SCHEDULER_CONTINUATION_TIMEOUT_MS +
    SCHEDULER_STEP_MARGIN_MS;
  if (stepMs >= maxDurationMs) {
    problems.push(
      `SCHEDULER_TIME_BUDGET_MS (${env.SCHEDULER_TIME_BUDGET_MS}) + DISPATCH_TIMEOUT_MS (${env.DISPATCH_TIMEOUT_MS}) + SCHEDULER_CONTINUATION_TIMEOUT_MS (${env.SCHEDULER_CONTINUATION_TIMEOUT_MS}) + ${SCHEDULER_STEP_MARGIN_MS} ms for the last writes must stay below the scheduler route's maxDuration (${maxDurationMs} ms)`,
    );
  }
  if (env.SCHEDULER_SWEEP_SLICE_MS >= env.SCHEDULER_TIME_BUDGET_MS) {
    problems.push("SCHEDULER_SWEEP_SLICE_MS must be below SCHEDULER_TIME_BUDGET_MS");
  }
  if (SCHEDULER_CHAIN_LAST_START_MINUTE * 60_000 + maxDurationMs >= 3_600_000) {
    problems.push(
      `a chain step started at minute ${SCHEDULER_CHAIN_LAST_START_MINUTE} must end, within the route's maxDuration (${SCHEDULER_MAX_DURATION_SECONDS} s), before the next hour's chain starts`,
    );
  }
  return problems;
}

/**
 * A drain must end within its route's maxDuration: it starts no event after EVENT_TIME_BUDGET_MS,
 * one started just before ends within RESEND_TIMEOUT_MS, PUSH_TIMEOUT_MS and its writes, then the continuation is
 * called. Killed mid-run, every event in flight would lose its attempt and wait out its lease.
 * The insights handler's LLM calls are bounded by the handler deadline instead (it starts none
 * that could end after it), so one call must fit in it, or insights events would never call.
 */
function eventTimingProblems(env: Env): string[] {
  const maxDurationMs = EVENTS_MAX_DURATION_SECONDS * 1_000;
  const drainMs =
    env.EVENT_TIME_BUDGET_MS +
    env.RESEND_TIMEOUT_MS +
    env.PUSH_TIMEOUT_MS +
    EVENT_CONTINUATION_TIMEOUT_MS +
    EVENT_DRAIN_MARGIN_MS;
  const problems: string[] = [];
  if (drainMs > maxDurationMs) {
    problems.push(
      `EVENT_TIME_BUDGET_MS (${env.EVENT_TIME_BUDGET_MS}) + RESEND_TIMEOUT_MS (${env.RESEND_TIMEOUT_MS}) + PUSH_TIMEOUT_MS (${env.PUSH_TIMEOUT_MS}) + ${EVENT_CONTINUATION_TIMEOUT_MS} ms for the continuation + ${EVENT_DRAIN_MARGIN_MS} ms for the last writes must not exceed the drain route's maxDuration (${maxDurationMs} ms)`,
    );
  }
  if (env.LLM_TIMEOUT_MS >= EVENT_HANDLER_DEADLINE_MS) {
    problems.push(
      `LLM_TIMEOUT_MS (${env.LLM_TIMEOUT_MS}) must be below the drain's handler deadline (${EVENT_HANDLER_DEADLINE_MS} ms: the drain route's maxDuration less ${EVENT_CONTINUATION_TIMEOUT_MS} ms for the continuation and ${EVENT_DRAIN_MARGIN_MS} ms for the last writes), or journal insights events could never make an LLM call`,
    );
  }
  return problems;
}

/** Parses an environment into the app's configuration; throws `config:env` naming each bad variable. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    throw new AppError("config:env", `Invalid configuration: ${describeIssues(parsed.error)}`);
  }
  const env = parsed.data;
  // With the variable set, firebase-admin accepts unsigned ID tokens: anyone could act as any
  // user on the key routes. On Vercel that is a mistake unless said otherwise.
  if (env.FIREBASE_AUTH_EMULATOR_HOST && env.VERCEL_ENV && env.ALLOW_AUTH_EMULATOR_ON_VERCEL !== true) {
    throw new AppError(
      "config:env",
      `Invalid configuration: FIREBASE_AUTH_EMULATOR_HOST is set on Vercel (VERCEL_ENV=${env.VERCEL_ENV}), where it would accept unsigned ID tokens; unset it, or set ALLOW_AUTH_EMULATOR_ON_VERCEL=true if this deployment really uses the Auth emulator`,
    );
  }
  const vapidParts = [env.VAPID_PUBLIC_KEY, env.VAPID_PRIVATE_KEY, env.VAPID_SUBJECT].filter(Boolean).length;
  if (vapidParts !== 0 && vapidParts !== 3) {
    // Half a key pair would leave push silently off: say which part is missing.
    throw new AppError(
      "config:env",
      "Invalid configuration: VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT are set together or not at all",
    );
  }
  const timingProblems = [...schedulerTimingProblems(env), ...eventTimingProblems(env)];
  if (timingProblems.length > 0) {
    throw new AppError("config:env", `Invalid configuration: ${timingProblems.join("; ")}`);
  }
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
      dispatchDeadlineMs: env.SCHEDULER_TIME_BUDGET_MS + env.DISPATCH_TIMEOUT_MS,
      continuationTimeoutMs: env.SCHEDULER_CONTINUATION_TIMEOUT_MS,
      sweepSliceMs: env.SCHEDULER_SWEEP_SLICE_MS,
      maxChainSteps: env.SCHEDULER_MAX_CHAIN_STEPS,
      chainLastStartMinute: SCHEDULER_CHAIN_LAST_START_MINUTE,
      dispatchesPerSecond: env.SCHEDULER_DISPATCHES_PER_SECOND,
      userWritesPerSecond: env.SCHEDULER_USER_WRITES_PER_SECOND,
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
    llmCeiling: env.LLM_CALLS_PER_MINUTE ? { callsPerMinute: env.LLM_CALLS_PER_MINUTE } : null,
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
      resendBaseUrl: (env.RESEND_BASE_URL ?? RESEND_DEFAULT_BASE_URL).replace(/\/+$/, ""),
      unsubscribe: env.UNSUBSCRIBE_SECRET
        ? {
            secret: env.UNSUBSCRIBE_SECRET,
            pageUrl: `${appUrl}${UNSUBSCRIBE_PATH}`,
            mailto: env.UNSUBSCRIBE_MAILTO ?? null,
          }
        : null,
      webhookSecret: env.RESEND_WEBHOOK_SECRET ?? null,
      journalEntryUrl: (entryId) => `${journalAppUrl}/journal/${encodeURIComponent(entryId)}`,
      preferencesUrl: `${journalAppUrl}/settings/notifications`,
    },
    push: {
      vapid:
        env.VAPID_PUBLIC_KEY && env.VAPID_PRIVATE_KEY && env.VAPID_SUBJECT
          ? { publicKey: env.VAPID_PUBLIC_KEY, privateKey: env.VAPID_PRIVATE_KEY, subject: env.VAPID_SUBJECT }
          : null,
      extraOrigins: env.PUSH_SERVICE_ORIGINS ?? [],
      timeoutMs: env.PUSH_TIMEOUT_MS,
    },
    events: {
      batchSize: env.EVENT_BATCH_SIZE,
      concurrency: env.EVENT_CONCURRENCY,
      maxRetries: env.EVENT_MAX_RETRIES,
      baseDelayMs: env.EVENT_RETRY_BASE_MS,
      maxDelayMs: env.EVENT_RETRY_MAX_MS,
      maxAgeMs: env.EVENT_MAX_AGE_HOURS * 3_600_000,
      leaseMs: env.EVENT_LEASE_MS,
      timeBudgetMs: env.EVENT_TIME_BUDGET_MS,
      handlerDeadlineMs: EVENT_HANDLER_DEADLINE_MS,
      maxContinuations: env.EVENT_MAX_CONTINUATIONS,
      emailTimeoutMs: env.RESEND_TIMEOUT_MS,
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
