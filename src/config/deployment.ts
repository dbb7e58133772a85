/**
 * Where the app runs and who may call it: its URL, the route secrets, the admin sign-in, and
 * Firestore's project and credentials.
 */
import { z } from "zod";
import { AppError } from "@/core/errors";
import { optionalText, withoutTrailingSlash } from "./fields";

export const deploymentEnv = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  ENABLE_TEST_ROUTES: z.stringbool().optional(),

  CRON_SECRET: optionalText.pipe(z.string().min(16, "must be at least 16 characters").optional()),
  ADMIN_PASSWORD: optionalText.pipe(z.string().min(8, "must be at least 8 characters").optional()),
  /** Signs admin session cookies; its own secret, so a cookie reveals nothing about the password. */
  ADMIN_SESSION_SECRET: optionalText.pipe(
    z.string().min(32, "must be at least 32 characters (e.g. `openssl rand -base64 32`)").optional(),
  ),

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
  FIREBASE_AUTH_EMULATOR_HOST: optionalText,
  /** Lets FIREBASE_AUTH_EMULATOR_HOST stand on Vercel, for a deployment that really uses the emulator. */
  ALLOW_AUTH_EMULATOR_ON_VERCEL: z.stringbool().optional(),
});

type DeploymentEnv = z.output<typeof deploymentEnv>;

function resolveAppUrl(env: DeploymentEnv): string {
  if (env.APP_URL) return withoutTrailingSlash(env.APP_URL);
  // Vercel's production URL is the right target for cron-driven production runs; a preview
  // deployment fans out to itself.
  if (env.VERCEL_PROJECT_PRODUCTION_URL && env.VERCEL_ENV !== "preview") {
    return `https://${env.VERCEL_PROJECT_PRODUCTION_URL}`;
  }
  if (env.VERCEL_URL) return `https://${env.VERCEL_URL}`;
  return "http://localhost:3000";
}

/**
 * The project Firestore and Firebase Auth belong to. Missing, every route fails (a `config:env`
 * error naming the variables to set); it is thrown rather than reported as an invalid value,
 * since nothing set is wrong.
 */
function resolveProjectId(env: DeploymentEnv): string {
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
 * With FIREBASE_AUTH_EMULATOR_HOST set, firebase-admin accepts unsigned ID tokens: anyone could
 * act as any user on the key routes. On Vercel that is a mistake unless said otherwise.
 */
export function authEmulatorProblem(env: DeploymentEnv): string | null {
  if (!env.FIREBASE_AUTH_EMULATOR_HOST || !env.VERCEL_ENV || env.ALLOW_AUTH_EMULATOR_ON_VERCEL === true) {
    return null;
  }
  return `FIREBASE_AUTH_EMULATOR_HOST is set on Vercel (VERCEL_ENV=${env.VERCEL_ENV}), where it would accept unsigned ID tokens; unset it, or set ALLOW_AUTH_EMULATOR_ON_VERCEL=true if this deployment really uses the Auth emulator`;
}

/** The deployment's part of the configuration. */
export function deploymentSettings(env: DeploymentEnv) {
  return {
    /** Base URL the scheduler fans out to; never taken from a request. */
    appUrl: resolveAppUrl(env),
    /** ENABLE_TEST_ROUTES, else open outside production. */
    testRoutesEnabled: env.ENABLE_TEST_ROUTES ?? env.NODE_ENV !== "production",
    /** The cron routes' bearer secret; null: those routes refuse every call (`requireSetting`). */
    cronSecret: env.CRON_SECRET ?? null,
    admin: {
      /** Null: nobody can sign in; the admin API still takes the cron secret. */
      password: env.ADMIN_PASSWORD ?? null,
      /** Signs sessions when set and not the password (`sessionSecretOf`). */
      sessionSecret: env.ADMIN_SESSION_SECRET ?? null,
      /** Where the sign-in throttle finds the client's address (`clientAddressFrom`). */
      clientAddress: { onVercel: env.VERCEL === "1", trustedProxyHops: env.TRUSTED_PROXY_HOPS },
    },
    firestore: {
      projectId: resolveProjectId(env),
      /** firebase-admin's own switch; with it no credentials are used. */
      emulatorHost: env.FIRESTORE_EMULATOR_HOST,
      serviceAccount: env.FIREBASE_SERVICE_ACCOUNT,
    },
  };
}
