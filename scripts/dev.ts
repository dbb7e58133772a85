/**
 * `npm run dev`: the whole engine on this machine with nothing configured.
 *
 * For each outside service that is not configured, an embedded stand-in starts in this
 * process: the Firestore emulator (seeded with demo users), the sandbox LLM server in place of
 * OpenRouter, and the mail catcher in place of Resend. Secrets that are not set are generated
 * and printed. Then `next dev` starts with that environment, and the crons of `vercel.json` run
 * against it on their schedules, the scheduler once as soon as the app is up, so the demo users'
 * messages arrive without anything typed (DEV_CRONS=off turns the crons off). Set
 * OPENROUTER_API_KEY, RESEND_API_KEY or Firebase credentials to use the real services instead.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import webpush from "web-push";
import { startAuthEmulator } from "./local-stack/auth-emulator";
import { buildDemoUsers, seedDemoData } from "./local-stack/demo-data";
import { type DevCrons, readVercelCrons, startDevCrons, waitForApp } from "./local-stack/dev-crons";
import { startFirestoreEmulator } from "./local-stack/firestore-emulator";
import { startLlmSandbox } from "./local-stack/llm-sandbox";
import { startMailCatcher } from "./local-stack/mail-catcher";
import { startPushService } from "./local-stack/push-service";

const NEXT_BIN = fileURLToPath(new URL("../node_modules/next/dist/bin/next", import.meta.url));
const env: NodeJS.ProcessEnv = { ...process.env, NEXT_TELEMETRY_DISABLED: "1" };
const port = Number(env.PORT ?? 3000);
const stoppers: (() => Promise<void>)[] = [];
const lines: string[] = [];

const usesRealFirestore = Boolean(env.FIREBASE_SERVICE_ACCOUNT || env.GOOGLE_APPLICATION_CREDENTIALS);
if (!env.FIRESTORE_EMULATOR_HOST && !usesRealFirestore) {
  const emulator = await startFirestoreEmulator({ port: Number(env.FIRESTORE_EMULATOR_PORT ?? 8080) });
  stoppers.push(emulator.stop);
  env.FIRESTORE_EMULATOR_HOST = emulator.host;
  env.FIREBASE_PROJECT_ID ??= "demo-coaching-engine";
  env.METADATA_SERVER_DETECTION = "none";
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  process.env.METADATA_SERVER_DETECTION = "none";
  const db = getFirestore(initializeApp({ projectId: env.FIREBASE_PROJECT_ID }, "dev-seed"));
  const users = buildDemoUsers({ now: Date.now() });
  await seedDemoData(db, users);
  const count = (state: string) => users.filter((user) => user.state === state).length;
  if (!env.FIREBASE_AUTH_EMULATOR_HOST) {
    const auth = await startAuthEmulator({ port: Number(env.AUTH_EMULATOR_PORT ?? 9099) });
    stoppers.push(auth.stop);
    env.FIREBASE_AUTH_EMULATOR_HOST = auth.host;
    lines.push(`Auth emulator       ${auth.host} (accepts unsigned emulator ID tokens for the user APIs)`);
  }
  lines.push(
    `Firestore emulator  ${emulator.host} (project ${env.FIREBASE_PROJECT_ID})`,
    `  seeded ${users.length} demo users: ${count("due-inside")} due inside their window, ${count("due-outside")} due outside it, ` +
      `${count("unscheduled")} unscheduled, ${count("scheduled")} scheduled later`,
  );
} else {
  lines.push(
    `Firestore           ${env.FIRESTORE_EMULATOR_HOST ?? `project ${env.FIREBASE_PROJECT_ID ?? "from credentials"}`}`,
  );
}

if (!env.OPENROUTER_API_KEY) {
  const sandbox = await startLlmSandbox({ port: Number(env.LLM_SANDBOX_PORT ?? 4010) });
  stoppers.push(sandbox.stop);
  env.OPENROUTER_BASE_URL = sandbox.baseURL;
  env.OPENROUTER_API_KEY = "sandbox";
  lines.push(`LLM sandbox         ${sandbox.baseURL} (deterministic OpenRouter stand-in)`);
} else {
  lines.push(`LLM                 ${env.OPENROUTER_BASE_URL ?? "https://openrouter.ai/api/v1"}`);
}

if (!env.RESEND_API_KEY) {
  const catcher = await startMailCatcher({ port: Number(env.MAIL_CATCHER_PORT ?? 4020) });
  stoppers.push(catcher.stop);
  env.RESEND_BASE_URL = catcher.url;
  env.RESEND_API_KEY = "re_sandbox";
  lines.push(`Mail catcher        ${catcher.url} (inbox in the browser; JSON at /__catcher/emails)`);
} else {
  lines.push("Email               Resend");
}

if (!env.VAPID_PUBLIC_KEY) {
  const pushService = await startPushService({ port: Number(env.PUSH_SERVICE_PORT ?? 4030) });
  stoppers.push(pushService.stop);
  env.PUSH_SERVICE_ORIGINS = [env.PUSH_SERVICE_ORIGINS, pushService.url].filter(Boolean).join(",");
  lines.push(
    `Push service        ${pushService.url} (decrypted pushes at /; a subscription: POST /__push/subscriptions)`,
  );
}

const generated: string[] = [];
const ensureSecret = (name: string, make: () => string) => {
  if (env[name]) return;
  env[name] = make();
  generated.push(`${name}=${env[name]}`);
};
ensureSecret("CRON_SECRET", () => randomBytes(24).toString("base64url"));
ensureSecret("ADMIN_PASSWORD", () => randomBytes(12).toString("base64url"));
ensureSecret("ADMIN_SESSION_SECRET", () => randomBytes(32).toString("base64url"));
ensureSecret("ENCRYPTION_KEY", () => randomBytes(32).toString("base64"));
if (!env.VAPID_PUBLIC_KEY && !env.VAPID_PRIVATE_KEY) {
  const vapid = webpush.generateVAPIDKeys();
  ensureSecret("VAPID_PUBLIC_KEY", () => vapid.publicKey);
  ensureSecret("VAPID_PRIVATE_KEY", () => vapid.privateKey);
}
env.VAPID_SUBJECT ??= "mailto:coach@example.com";
ensureSecret("UNSUBSCRIBE_SECRET", () => randomBytes(32).toString("base64url"));
// The form Resend's dashboard shows: sign local test webhooks with it (svix's Webhook.sign).
ensureSecret("RESEND_WEBHOOK_SECRET", () => `whsec_${randomBytes(24).toString("base64")}`);
env.ENABLE_TEST_ROUTES ??= "true";
env.APP_URL ??= `http://localhost:${port}`;

const SCHEDULER_PATH = "/api/coaching/generateCoachingMessage/scheduler";
const localUrl = `http://localhost:${port}`;
const cronEntries = env.DEV_CRONS === "off" ? null : readVercelCrons();
const byHand = (path: string) =>
  `  curl -s -X POST -H "Authorization: Bearer ${env.CRON_SECRET}" ${localUrl}${path}`;

console.log(
  [
    "",
    "coaching-engine — local stack",
    ...lines,
    `App                 ${localUrl}`,
    `Admin pages         ${localUrl}/admin (sign in with ADMIN_PASSWORD)`,
    ...(generated.length
      ? ["Generated secrets (this run only):", ...generated.map((line) => `  ${line}`)]
      : []),
    "",
    ...(cronEntries
      ? [
          "Crons of vercel.json, on their schedules (UTC), called with CRON_SECRET like Vercel; DEV_CRONS=off turns them off:",
          ...cronEntries.map(({ path, schedule }) => `  ${schedule.padEnd(12)} ${path}`),
          "The scheduler also runs once as soon as the app is up: the demo users due now get their",
          "messages, and their emails show in the mail catcher, within a minute or so.",
          "Run one by hand:",
          byHand(SCHEDULER_PATH),
        ]
      : ["Crons               off (DEV_CRONS=off). Run the scheduler by hand:", byHand(SCHEDULER_PATH)]),
    "",
  ].join("\n"),
);

const next: ChildProcess = spawn(process.execPath, [NEXT_BIN, "dev", "-p", String(port)], {
  env,
  stdio: "inherit",
});

let crons: DevCrons | undefined;
let stopping = false;
async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  crons?.stop();
  if (next.exitCode === null) next.kill("SIGTERM");
  await Promise.allSettled(stoppers.map((stop) => stop()));
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));
next.on("exit", (code: number | null) => void shutdown(code ?? 0));

if (cronEntries) {
  try {
    await waitForApp(localUrl);
    if (!stopping) {
      crons = startDevCrons({ appUrl: localUrl, cronSecret: env.CRON_SECRET ?? "", entries: cronEntries });
      await crons.run(SCHEDULER_PATH);
    }
  } catch (error) {
    console.error(`[cron] not started: ${error instanceof Error ? error.message : String(error)}`);
  }
}
