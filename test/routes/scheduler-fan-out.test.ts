/**
 * The scheduler's fan-out really runs in parallel: a stand-in processor that takes a while to
 * answer records how many calls it holds at once. Sequential dispatch would never hold more
 * than one, and would take (users × answer time).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmulatorHandle, putDocuments, startTestEmulator } from "../support/firestore";
import { type NextServer, startNextServer } from "../support/next-server";
import { type RecordingServer, startRecordingServer } from "../support/recording-server";
import { userDocument } from "../support/users";
import { zoneInsideWindow } from "../support/zones";

const SECRET = "scheduler-fan-out-secret-0123456789";
const SCHEDULER = "/api/coaching/generateCoachingMessage/scheduler";
const PROCESSOR = "/api/coaching/generateCoachingMessage/processor";
const HOUR = 3_600_000;
const USERS = 12;
/** How long the stand-in processor holds each call before answering 202. */
const ANSWER_AFTER_MS = 500;

let handle: EmulatorHandle;
let processor: RecordingServer;
let server: NextServer;
let inFlight = 0;
let maxInFlight = 0;

beforeAll(async () => {
  handle = await startTestEmulator();
  const { projectId, db } = handle.freshProject("fan-out");
  processor = await startRecordingServer(() => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    setTimeout(() => {
      inFlight -= 1;
    }, ANSWER_AFTER_MS);
    return { status: 202, body: { success: true, accepted: true }, delayMs: ANSWER_AFTER_MS };
  });
  server = await startNextServer({
    FIRESTORE_EMULATOR_HOST: handle.emulator.host,
    FIREBASE_PROJECT_ID: projectId,
    CRON_SECRET: SECRET,
    APP_URL: processor.url,
  });
  const now = Date.now();
  await putDocuments(
    db,
    "users",
    Array.from({ length: USERS }, (_, index) => [
      `fan-${index}`,
      userDocument({
        email: `fan-${index}@example.com`,
        timezone: zoneInsideWindow(now, "morning"),
        nextCoachingMessageDue: now - HOUR,
      }),
    ]),
  );
});

afterAll(async () => {
  await server?.stop();
  await processor?.stop();
  await handle?.stop();
});

describe("scheduler fan-out", () => {
  it("dispatches due users to the processor concurrently, not one after another", async () => {
    const startedAt = Date.now();
    const response = await fetch(`${server.url}${SCHEDULER}`, {
      method: "POST",
      headers: { authorization: `Bearer ${SECRET}` },
    });
    const tookMs = Date.now() - startedAt;
    expect(response.status).toBe(200);
    expect((await response.json()).results).toMatchObject({ usersDue: USERS, jobsCreated: USERS, errors: 0 });
    expect(processor.requests.filter((request) => request.path === PROCESSOR)).toHaveLength(USERS);
    expect(maxInFlight).toBeGreaterThan(1);
    expect(tookMs).toBeLessThan(USERS * ANSWER_AFTER_MS);
  });
});
