/**
 * `npm run dev` itself (scripts/dev.ts with `next dev`), as a newcomer runs it: with nothing
 * else typed, the crons it runs deliver the demo users' emails to the mail catcher. Every port is
 * free-picked, so this runs beside other checkouts and other test files; `next dev` builds into
 * `.next/dev`, apart from the `.next` that the other route tests' `next start` serves.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { freePort } from "../support/next-server";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TSX_CLI = fileURLToPath(new URL("../../node_modules/tsx/dist/cli.mjs", import.meta.url));
// `next dev` compiles each route on first use; on a small machine, busy with the other route
// tests, that takes minutes rather than seconds. The assertion polls until this deadline.
const DEADLINE_MS = 240_000;
const SCHEDULER_RAN = /\[cron\] GET \/api\/coaching\/generateCoachingMessage\/scheduler → 200/;

let child: ChildProcess;
let output = "";
let catcherUrl: string;
let exited: Promise<void>;

beforeAll(async () => {
  const [port, firestorePort, sandboxPort, catcherPort, authPort, pushPort] = await Promise.all(
    Array.from({ length: 6 }, () => freePort()),
  );
  catcherUrl = `http://127.0.0.1:${catcherPort}`;
  // Its own process group, so that the whole tree (tsx, next dev and its workers) can be ended.
  child = spawn(process.execPath, [TSX_CLI, "scripts/dev.ts"], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    // Only what a shell would have: no credentials, no NODE_ENV=test from vitest.
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      NODE_ENV: "development",
      NEXT_TELEMETRY_DISABLED: "1",
      PORT: String(port),
      FIRESTORE_EMULATOR_PORT: String(firestorePort),
      LLM_SANDBOX_PORT: String(sandboxPort),
      MAIL_CATCHER_PORT: String(catcherPort),
      AUTH_EMULATOR_PORT: String(authPort),
      PUSH_SERVICE_PORT: String(pushPort),
    },
  });
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  exited = new Promise((resolve) => child.once("exit", () => resolve()));
});

afterAll(async () => {
  if (!child?.pid || child.exitCode !== null) return;
  const group = -child.pid;
  process.kill(group, "SIGTERM");
  const stopped = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000)),
  ]);
  // Whatever is left of the group (a `next dev` worker that ignored SIGTERM) goes now.
  try {
    process.kill(group, "SIGKILL");
  } catch {
    // ESRCH: the group is gone already.
  }
  if (!stopped) await exited;
}, 30_000);

interface CaughtEmail {
  to: string[];
  subject: string;
}

async function caughtEmails(): Promise<CaughtEmail[]> {
  try {
    const response = await fetch(`${catcherUrl}/__catcher/emails`, { signal: AbortSignal.timeout(5_000) });
    return ((await response.json()) as { emails: CaughtEmail[] }).emails;
  } catch {
    return []; // the catcher is not up yet
  }
}

it(
  "delivers the demo users' emails with nothing typed after `npm run dev`",
  async () => {
    const startedAt = Date.now();
    let emails: CaughtEmail[] = [];
    const schedulerRan = () => SCHEDULER_RAN.test(output);
    while (
      (emails.length === 0 || !schedulerRan()) &&
      Date.now() - startedAt < DEADLINE_MS &&
      child.exitCode === null
    ) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      emails = await caughtEmails();
    }
    expect(
      emails.length,
      `no email reached the mail catcher; the dev script printed:\n${output}`,
    ).toBeGreaterThan(0);
    for (const email of emails) {
      expect(email.to).toEqual([expect.stringMatching(/^[a-z]+\.demo-\d{2}@example\.com$/)]);
      expect(email.subject).not.toBe("");
    }
    expect(output).toContain("Crons of vercel.json");
    expect(output).toMatch(SCHEDULER_RAN);
    console.log(`dev script: first demo email after ${Math.round((Date.now() - startedAt) / 1000)} s`);
  },
  DEADLINE_MS + 30_000,
);
