/**
 * The environment, parsed once with zod. Everything that varies between local, test and
 * production runs comes through here, so product code never branches on "is this a test".
 *
 * One schema per area (deployment, LLM, delivery, scheduler, outbox) parses its variables and
 * maps them to that area's settings; the configuration's type is inferred from those schemas.
 * Optional features are capabilities, null when not configured (`email`, `push`,
 * `unsubscribe`, `resendWebhook`, `ownKeyEncryption`, `llmCeiling`, `alerts`): callers test the
 * capability, never a variable. Malformed values fail on first use with a message naming the
 * variable. Secrets only some routes need (the cron secret, the admin password, the LLM key)
 * are optional here and demanded by `requireSetting` where they are used, so one missing key
 * does not take down unrelated routes.
 */
import { z } from "zod";
import { AppError } from "@/core/errors";
import type { Keyring } from "@/core/key-cipher";
import { alertsEnv, alertsSettings, alertWebhookProblem } from "./alerts";
import { deliveryEnv, deliverySettings, vapidProblem } from "./delivery";
import { authEmulatorProblem, deploymentEnv, deploymentSettings } from "./deployment";
import { llmEnv, llmSettings } from "./llm";
import { eventTimingProblems, outboxEnv, outboxSettings } from "./outbox";
import { schedulerEnv, schedulerSettings, schedulerTimingProblems } from "./scheduler";
import { telemetryEnv, telemetrySettings } from "./telemetry";

export { RESEND_DEFAULT_BASE_URL } from "./delivery";
export {
  EVENT_CONTINUATION_TIMEOUT_MS,
  EVENTS_MAX_DURATION_SECONDS,
  PROCESSOR_MAX_DURATION_SECONDS,
  SCHEDULER_CHAIN_LAST_START_MINUTE,
  SCHEDULER_MAX_DURATION_SECONDS,
} from "./limits";

/** Every variable the app reads, with its default and its validation. */
const envSchema = z.object({
  ...deploymentEnv.shape,
  ...llmEnv.shape,
  ...deliveryEnv.shape,
  ...schedulerEnv.shape,
  ...outboxEnv.shape,
  ...alertsEnv.shape,
  ...telemetryEnv.shape,
});

/**
 * The environment to the app's configuration: each variable checked alone; once all are valid,
 * the rules that span several (reported without a variable's name in front, as they name their
 * own); then each area's settings.
 */
const configSchema = envSchema.transform((env, context) => {
  // The Auth emulator on Vercel, or half a VAPID key pair, is reported alone; the timing rules together.
  const problem = authEmulatorProblem(env) ?? vapidProblem(env) ?? alertWebhookProblem(env);
  const problems = problem ? [problem] : [...schedulerTimingProblems(env), ...eventTimingProblems(env)];
  if (problems.length > 0) {
    for (const message of problems) context.addIssue({ code: "custom", message });
    return z.NEVER;
  }
  const deployment = deploymentSettings(env);
  return {
    ...deployment,
    ...llmSettings(env),
    ...deliverySettings(env, { appUrl: deployment.appUrl }),
    scheduler: schedulerSettings(env),
    ...outboxSettings(env),
    ...alertsSettings(env),
    ...telemetrySettings(env),
  };
});

/** The app's configuration, as `configSchema` parses it. */
export type AppConfig = z.output<typeof configSchema>;

/** Settings that some routes cannot run without, demanded where they are used. */
export type RequiredSetting =
  | "CRON_SECRET"
  | "ADMIN_PASSWORD"
  | "ADMIN_SESSION_SECRET"
  | "OPENROUTER_API_KEY";

const requiredSettingValue: { [Name in RequiredSetting]: (config: AppConfig) => string | null } = {
  CRON_SECRET: (config) => config.cronSecret,
  ADMIN_PASSWORD: (config) => config.admin.password,
  ADMIN_SESSION_SECRET: (config) => config.admin.sessionSecret,
  OPENROUTER_API_KEY: (config) => config.llm.defaultApiKey,
};

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ");
}

/**
 * What is wrong with an environment's configuration, one line per problem (`VARIABLE: what is
 * wrong`, never the value); empty when `loadConfig` would succeed. For the check at boot
 * (`src/instrumentation.ts`): every route reads the configuration, and fails until it is fixed.
 */
export function configProblems(source: NodeJS.ProcessEnv = process.env): string[] {
  const parsed = configSchema.safeParse(source);
  return parsed.success ? [] : describeIssues(parsed.error).split("; ");
}

/** Parses an environment into the app's configuration; throws `config:env` naming each bad variable. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = configSchema.safeParse(source);
  if (!parsed.success) {
    throw new AppError("config:env", `Invalid configuration: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}

let cachedConfig: AppConfig | undefined;

/** The process's configuration, parsed on first use. */
export function getConfig(): AppConfig {
  cachedConfig ??= loadConfig();
  return cachedConfig;
}

/** A setting a route cannot run without; fails closed, naming the variable, when it is unset. */
export function requireSetting(config: AppConfig, name: RequiredSetting): string {
  const value = requiredSettingValue[name](config);
  if (!value) throw new AppError("config:env", `${name} is not set`);
  return value;
}

/** The keys users' own API keys are sealed with; fails closed, naming ENCRYPTION_KEY, when it is unset. */
export function requireKeyring(config: AppConfig): Keyring {
  if (!config.ownKeyEncryption) throw new AppError("config:env", "ENCRYPTION_KEY is not set");
  return config.ownKeyEncryption;
}
