import { afterAll, beforeAll, expect, it } from "vitest";
import { type EmulatorHandle, putDocuments, startTestEmulator } from "../support/firestore";
import { type NextServer, startNextServer } from "../support/next-server";
import { type RecordingServer, startRecordingServer } from "../support/recording-server";
import { userDocument } from "../support/users";
import { zoneInsideWindow } from "../support/zones";

const SECRET = "scheduler-scale-secret-0123456789";
const HOUR = 3_600_000;
const USERS = 5_000;
const DUE = 50;

let handle: EmulatorHandle;
let processor: RecordingServer;
let server: NextServer;
let projectId: string;

beforeAll(async () => {
  handle = await startTestEmulator();
  const project = handle.freshProject("scale");
  projectId = project.projectId;
  const now = Date.now();
  const zone = zoneInsideWindow(now, "evening");
  await putDocuments(
    project.db,
    "users",
    Array.from({ length: USERS }, (_, index): [string, Record<string, unknown>] => {
      const due = index < DUE ? now - HOUR - (index % 5) : now + HOUR + index * 60_000;
      return [
        `user-${String(index).padStart(5, "0")}`,
        // As the engine leaves users after writing their due time: with its rank.
        {
          ...userDocument({ timezone: zone, timePreference: "evening", nextCoachingMessageDue: due }),
          coachingDueRank: (index + 0.5) / USERS,
        },
      ];
    }),
  );
  processor = await startRecordingServer(() => ({ status: 202 }));
  server = await startNextServer({
    FIRESTORE_EMULATOR_HOST: handle.emulator.host,
    FIREBASE_PROJECT_ID: projectId,
    CRON_SECRET: SECRET,
    APP_URL: processor.url,
  });
}, 180_000);

afterAll(async () => {
  await server?.stop();
  await processor?.stop();
  await handle?.stop();
});

it(`reads about ${DUE} user documents, not ${USERS}, in a tick with ${DUE} due`, async () => {
  handle.emulator.resetStats(projectId);
  const response = await fetch(`${server.url}/api/coaching/generateCoachingMessage/scheduler`, {
    headers: { authorization: `Bearer ${SECRET}` },
  });
  const body = await response.json();
  expect(body.results).toMatchObject({ usersDue: DUE, jobsCreated: DUE, errors: 0 });
  expect(processor.requests).toHaveLength(DUE);

  const stats = handle.emulator.stats(projectId);
  const usersRead = stats.documentsReadByCollection.users ?? 0;
  expect(usersRead).toBeGreaterThanOrEqual(DUE);
  expect(usersRead).toBeLessThanOrEqual(DUE + 5);
  expect(body.results.documentsRead).toBe(usersRead);
  // Two run-summary writes (started, finished) and the chain step's claim and completion;
  // dispatched users are rescheduled by the processor. The metrics rollup and the alert
  // evaluation after the tick write only their own documents (test/adapters/metrics-rollup.test.ts,
  // test/adapters/alert-store.test.ts).
  const rollupWrites = [
    "metricsHourly",
    "metricsDaily",
    "metricsEngagement",
    "alerts",
    "alertState",
    "alertOpen",
  ].reduce((total, collection) => total + (stats.writesByCollection[collection] ?? 0), 0);
  expect(stats.writes - rollupWrites).toBe(4);
});
