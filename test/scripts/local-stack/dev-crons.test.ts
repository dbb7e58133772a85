import { readFileSync } from "node:fs";
import { Cron } from "croner";
import { afterEach, describe, expect, it } from "vitest";
import { type DevCrons, readVercelCrons, startDevCrons } from "../../../scripts/local-stack/dev-crons";
import { type RecordingServer, startRecordingServer } from "../../support/recording-server";

let app: RecordingServer | undefined;
let crons: DevCrons | undefined;

afterEach(async () => {
  crons?.stop();
  await app?.stop();
  crons = undefined;
  app = undefined;
});

describe("the dev crons", () => {
  it("are exactly vercel.json's, each a schedule croner accepts", () => {
    const file = JSON.parse(readFileSync("vercel.json", "utf8")) as { crons: unknown[] };
    const entries = readVercelCrons();
    expect(entries).toEqual(file.crons);
    expect(entries.map(({ path }) => path)).toContain("/api/coaching/generateCoachingMessage/scheduler");
    for (const { schedule } of entries) {
      expect(new Cron(schedule, { timezone: "UTC", paused: true }).nextRun()).toBeInstanceOf(Date);
    }
  });

  it("call each path on its schedule with GET and the cron secret as bearer, like Vercel", async () => {
    app = await startRecordingServer(() => ({ status: 200, body: { success: true } }));
    const lines: string[] = [];
    crons = startDevCrons({
      appUrl: app.url,
      cronSecret: "dev-cron-secret-0123456789",
      entries: [{ path: "/api/events/process-batch", schedule: "* * * * * *" }],
      log: (line) => lines.push(line),
    });
    const server = app;
    await expect.poll(() => server.requests.length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(server.requests[0]).toMatchObject({
      method: "GET",
      path: "/api/events/process-batch",
      headers: expect.objectContaining({ authorization: "Bearer dev-cron-secret-0123456789" }),
    });
    await expect
      .poll(() => lines[0], { timeout: 10_000 })
      .toMatch(/^\[cron\] GET \/api\/events\/process-batch → 200 /);
  }, 15_000);

  it("do not start a path again while its last call is still running", async () => {
    app = await startRecordingServer(() => ({ status: 200, delayMs: 2_500 }));
    const lines: string[] = [];
    crons = startDevCrons({
      appUrl: app.url,
      cronSecret: "dev-cron-secret-0123456789",
      entries: [{ path: "/api/cron/cleanup", schedule: "* * * * * *" }],
      log: (line) => lines.push(line),
    });
    const server = app;
    await expect.poll(() => server.requests.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    // Every second without the guard; one call at a time with it.
    const [first, second] = server.requests;
    expect((second?.receivedAt ?? 0) - (first?.receivedAt ?? 0)).toBeGreaterThanOrEqual(2_400);
    expect(lines.length).toBeGreaterThanOrEqual(1);
  }, 20_000);
});
