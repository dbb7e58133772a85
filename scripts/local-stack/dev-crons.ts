/**
 * The crons of `vercel.json`, run by `npm run dev` against the local app the way Vercel runs
 * them in production: on the same schedules (read from `vercel.json`, in UTC, so they cannot
 * drift), as a GET with `Authorization: Bearer $CRON_SECRET`. A run still in progress is not
 * started again.
 */
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { Cron } from "croner";
import { z } from "zod";

const VERCEL_JSON = fileURLToPath(new URL("../../vercel.json", import.meta.url));

const VercelConfig = z.object({
  crons: z.array(z.object({ path: z.string().startsWith("/"), schedule: z.string().min(1) })).default([]),
});

export type CronEntry = z.infer<typeof VercelConfig>["crons"][number];

/** The `crons` of `vercel.json`. */
export function readVercelCrons(file = VERCEL_JSON): CronEntry[] {
  return VercelConfig.parse(JSON.parse(readFileSync(file, "utf8"))).crons;
}

export interface DevCrons {
  entries: CronEntry[];
  /** Calls one cron path now, as its schedule would. */
  run(path: string): Promise<void>;
  stop(): void;
}

/** Schedules every entry against `appUrl`; each call's outcome is logged in one line. */
export function startDevCrons({
  appUrl,
  cronSecret,
  entries = readVercelCrons(),
  log = (line: string) => console.log(line),
}: {
  appUrl: string;
  cronSecret: string;
  entries?: CronEntry[];
  log?: (line: string) => void;
}): DevCrons {
  const run = async (path: string) => {
    const startedAt = Date.now();
    try {
      const response = await fetch(`${appUrl}${path}`, {
        headers: { authorization: `Bearer ${cronSecret}` },
      });
      const body = (await response.text()).replace(/\s+/g, " ").slice(0, 200);
      log(`[cron] GET ${path} → ${response.status} in ${Date.now() - startedAt} ms ${body}`);
    } catch (error) {
      log(`[cron] GET ${path} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  const jobs = entries.map(
    (entry) =>
      new Cron(entry.schedule, { name: entry.path, timezone: "UTC", protect: true }, () => run(entry.path)),
  );
  return {
    entries,
    run,
    stop: () => {
      for (const job of jobs) job.stop();
    },
  };
}

/**
 * Resolves once something listens at `appUrl` (`next dev` is up; it compiles each route on its
 * first request, so a TCP connection is the honest "ready"), or rejects at the deadline.
 */
export async function waitForApp(appUrl: string, { timeoutMs = 300_000 } = {}): Promise<void> {
  const { hostname, port } = new URL(appUrl);
  const deadline = Date.now() + timeoutMs;
  const connects = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect({ host: hostname, port: Number(port) });
      const settle = (listening: boolean) => {
        socket.destroy();
        resolve(listening);
      };
      socket.once("connect", () => settle(true));
      socket.once("error", () => settle(false));
      socket.setTimeout(2_000, () => settle(false));
    });
  while (!(await connects())) {
    if (Date.now() > deadline) throw new Error(`nothing answered at ${appUrl}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
