/**
 * `npm run bench` (full) and `npm run bench -- --quick` (at most 3 minutes): measures the
 * engine on this machine and writes bench/results/latest.json and bench/results/latest.md.
 *
 * Everything is measured, nothing asserted: targets are reported as met or not, with the figure.
 * - scheduler vs full scan on the Firestore emulator (documents read and written, wall time);
 * - the same tick over 100,000 users on the in-memory data layer (reads, writes, CPU time);
 * - fan-out: dispatching due users over HTTP to a local processor stand-in;
 * - processor overhead: the real pipeline on the emulator with the sandbox LLM at 0 ms;
 * - end to end: due users with 1.5 s per LLM call, by number of processor runs in flight;
 * - admin pages: the dashboard's documents read, aggregations and queries per render at two numbers
 *   of users (target: independent of the number of users), and a users page's queries.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import os from "node:os";
import { initializeApp } from "firebase-admin/app";
import { type Firestore, getFirestore } from "firebase-admin/firestore";
import { createHttpDispatcher } from "@/adapters/dispatch/http-dispatcher";
import { createFirestoreDashboardStore } from "@/adapters/firestore/admin/dashboard-store";
import { createFirestoreUsersTableStore } from "@/adapters/firestore/admin/users-table-store";
import { createFirestoreMetricsStore } from "@/adapters/firestore/metrics-store";
import { createFirestoreSchedulerStore } from "@/adapters/firestore/scheduler-store";
import { createInMemoryDatabase, createInMemorySchedulerStore } from "@/adapters/memory/scheduler-store";
import { loadConfig } from "@/config";
import { isInsideWindow } from "@/core/schedule";
import { decideDueUser } from "@/core/scheduler-decisions";
import { parseUserDocument } from "@/core/user";
import { mapWithConcurrency } from "@/pipeline/bounded-concurrency";
import type { Dispatcher } from "@/pipeline/dispatch-ports";
import type { ProcessorDeps } from "@/pipeline/process-user";
import { rollUpMetrics } from "@/pipeline/roll-up-metrics";
import { runScheduler, type SchedulerSettings } from "@/pipeline/run-scheduler";
import type { SchedulerStore } from "@/pipeline/scheduler-store-ports";
import { firestoreProcessorStorage, wireProcessor } from "@/services/processor";
import { type RunningEmulator, startFirestoreEmulator } from "./local-stack/firestore-emulator";
import { type LlmSandbox, startLlmSandbox } from "./local-stack/llm-sandbox";
import { processUser } from "./support/process-user";

process.env.METADATA_SERVER_DETECTION = "none";
const quick = process.argv.includes("--quick");
/** `--only processor` (or scheduler, fan-out, memory, end-to-end, admin): one group, for a quick look; writes no results. */
const onlyIndex = process.argv.indexOf("--only");
const only = onlyIndex >= 0 ? process.argv[onlyIndex + 1] : undefined;
const runs = (group: string) => only === undefined || only === group;
const HOUR = 3_600_000;

interface Metric {
  group: string;
  name: string;
  value: number;
  unit: string;
  target?: string;
  met?: boolean;
}

const metrics: Metric[] = [];
/** Lines under the table: per-collection breakdowns. */
const breakdowns: string[] = [];
function record(metric: Metric): void {
  metrics.push(metric);
  const target = metric.target ? `  (target ${metric.target}: ${metric.met ? "met" : "NOT met"})` : "";
  console.log(`  ${metric.group} · ${metric.name}: ${formatValue(metric.value)} ${metric.unit}${target}`);
}

function formatValue(value: number): string {
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return value >= 100 ? value.toFixed(0) : value >= 1 ? value.toFixed(2) : value.toPrecision(3);
}

const settings: SchedulerSettings = {
  pageSize: 100,
  maxUsersPerTick: 100_000,
  bootstrapLimit: 200,
  timeBudgetMs: 10 * 60_000,
  disabledRecheckMs: 24 * HOUR,
  dispatchConcurrency: 20,
};

/** An Etc/GMT zone where `now` falls inside the afternoon window (12:00–17:00 local). */
function afternoonZone(now: number): string {
  const utcHour = new Date(now).getUTCHours();
  for (const offset of [14 - utcHour, 14 - utcHour - 24, 14 - utcHour + 24]) {
    if (offset < -12 || offset > 14) continue;
    const zone = offset === 0 ? "Etc/GMT" : `Etc/GMT${offset > 0 ? "-" : "+"}${Math.abs(offset)}`;
    if (isInsideWindow({ at: now, timezone: zone, timePreference: "afternoon" })) return zone;
  }
  throw new Error("no afternoon zone");
}

function userDoc(index: number, due: boolean, now: number, zone: string): Record<string, unknown> {
  return {
    email: `bench-${index}@example.com`,
    timezone: zone,
    coachingConfig: { enableCoachingMessages: true, frequency: "daily", timePreference: "afternoon" },
    // Due users were due a little while ago; the others are due tomorrow.
    nextCoachingMessageDue: due ? now - 60_000 - (index % 600) * 1_000 : now + 20 * HOUR + index,
  };
}

async function writeInBatches(db: Firestore, path: string, documents: [string, Record<string, unknown>][]) {
  for (let start = 0; start < documents.length; start += 500) {
    const batch = db.batch();
    for (const [id, document] of documents.slice(start, start + 500))
      batch.set(db.collection(path).doc(id), document);
    await batch.commit();
  }
}

const noopDispatcher = (): Dispatcher & { count: number } => {
  const dispatcher = {
    count: 0,
    async dispatch() {
      dispatcher.count += 1;
      return { ok: true as const, status: 202 };
    },
  };
  return dispatcher;
};

async function engineTick(store: SchedulerStore, now: number, dispatcher: Dispatcher) {
  const started = performance.now();
  const run = await runScheduler({
    store,
    dispatcher,
    settings,
    now,
    trigger: "test",
    runId: `bench-${now}-${Math.random()}`,
    elapsedMs: () => performance.now() - started,
    random: () => 0.5,
  });
  return { run, wallMs: performance.now() - started };
}

/** The seed design's "legacy approach": read every user, then decide. */
async function fullScanTick(db: Firestore, now: number, dispatcher: Dispatcher) {
  const started = performance.now();
  const snapshot = await db.collection("users").get();
  let dispatched = 0;
  for (const document of snapshot.docs) {
    const user = parseUserDocument(document.id, document.data());
    const due = user.nextCoachingMessageDue;
    if (typeof due !== "number" || due > now) continue;
    const decision = decideDueUser({ snapshot: user, now, recheckAfterMs: settings.disabledRecheckMs });
    if (decision.action === "dispatch") {
      await dispatcher.dispatch({ userId: document.id, runId: "scan" });
      dispatched += 1;
    } else {
      await db
        .collection("users")
        .doc(document.id)
        .update({ nextCoachingMessageDue: decision.nextCoachingMessageDue });
    }
  }
  return { wallMs: performance.now() - started, dispatched };
}

async function schedulerVsScan(emulator: RunningEmulator) {
  console.log("\nScheduler vs full scan (Firestore emulator)");
  for (const size of [1_000, 10_000]) {
    const projectId = `bench-scan-${size}`;
    const db = getFirestore(initializeApp({ projectId }, projectId));
    db.settings({ ignoreUndefinedProperties: true });
    const now = Date.now();
    const zone = afternoonZone(now);
    const seedStarted = performance.now();
    const dueAt10 = Math.round(size * 0.1);
    const dueAt1 = Math.round(size * 0.01);
    // Seed with 1 % due; then move 9 % more into due for the 10 % run.
    await writeInBatches(
      db,
      "users",
      Array.from({ length: size }, (_, index) => [`u${index}`, userDoc(index, index < dueAt1, now, zone)]),
    );
    console.log(`  seeded ${size} users in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`);
    for (const [ratio, due] of [
      ["1%", dueAt1],
      ["10%", dueAt10],
    ] as const) {
      if (ratio === "10%") {
        await writeInBatches(
          db,
          "users",
          Array.from({ length: dueAt10 - dueAt1 }, (_, offset) => {
            const index = dueAt1 + offset;
            return [`u${index}`, userDoc(index, true, now, zone)];
          }),
        );
      }
      const group = `scheduler ${size.toLocaleString("en-US")} users, ${ratio} due`;
      emulator.resetStats(projectId);
      const engineDispatcher = noopDispatcher();
      const engine = await engineTick(createFirestoreSchedulerStore(db), now, engineDispatcher);
      const engineStats = emulator.stats(projectId);
      const engineReads = engineStats.documentsReadByCollection.users ?? engineStats.documentsRead;
      emulator.resetStats(projectId);
      const scanDispatcher = noopDispatcher();
      const scan = await fullScanTick(db, now, scanDispatcher);
      const scanStats = emulator.stats(projectId);
      const scanReads = scanStats.documentsReadByCollection.users ?? scanStats.documentsRead;
      const ratioReads = scanReads / Math.max(1, engineReads);
      record({ group, name: "engine: user documents read", value: engineReads, unit: "docs" });
      record({ group, name: "full scan: user documents read", value: scanReads, unit: "docs" });
      record({
        group,
        name: "reads, full scan ÷ engine",
        value: ratioReads,
        unit: "×",
        ...(size === 10_000 && ratio === "1%" ? { target: "≥ 50×", met: ratioReads >= 50 } : {}),
      });
      record({
        group,
        name: "engine: user documents written",
        value: engine.run.results.documentsWritten,
        unit: "docs",
      });
      record({ group, name: "engine: dispatched", value: engineDispatcher.count, unit: "users" });
      record({ group, name: "full scan: dispatched", value: scanDispatcher.count, unit: "users" });
      record({ group, name: "engine: tick wall time", value: engine.wallMs, unit: "ms" });
      record({ group, name: "full scan: tick wall time", value: scan.wallMs, unit: "ms" });
      if (engineDispatcher.count !== due || scanDispatcher.count !== due) {
        console.log(`  warning: expected ${due} dispatches`);
      }
    }
  }
}

async function inMemory100k() {
  console.log("\n100,000 users on the in-memory data layer");
  const size = 100_000;
  for (const [ratio, fraction] of [
    ["1%", 0.01],
    ["10%", 0.1],
  ] as const) {
    const database = createInMemoryDatabase();
    const now = Date.now();
    const zone = afternoonZone(now);
    const due = Math.round(size * fraction);
    for (let index = 0; index < size; index += 1)
      database.users.set(`u${index}`, userDoc(index, index < due, now, zone));
    const store = createInMemorySchedulerStore(database);
    database.counters.documentsRead = 0;
    database.counters.documentsWritten = 0;
    const cpuBefore = process.cpuUsage();
    const dispatcher = noopDispatcher();
    const { wallMs } = await engineTick(store, now, dispatcher);
    const cpu = process.cpuUsage(cpuBefore);
    const group = `scheduler 100,000 users in memory, ${ratio} due`;
    record({ group, name: "user documents read", value: database.counters.documentsRead, unit: "docs" });
    record({
      group,
      name: "documents written (run summary)",
      value: database.counters.documentsWritten,
      unit: "docs",
    });
    record({ group, name: "dispatched", value: dispatcher.count, unit: "users" });
    record({ group, name: "CPU time", value: (cpu.user + cpu.system) / 1000, unit: "ms" });
    record({ group, name: "wall time", value: wallMs, unit: "ms" });
  }
}

async function fanOut(users: number) {
  console.log(`\nFan-out: ${users} due users dispatched over HTTP to a local processor stand-in`);
  let received = 0;
  const processor = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      received += 1;
      response.writeHead(202, { "content-type": "application/json" });
      response.end('{"success":true,"accepted":true}');
    });
  });
  await new Promise<void>((resolve) => processor.listen(0, "127.0.0.1", resolve));
  const address = processor.address();
  if (!address || typeof address === "string") throw new Error("no port");
  const database = createInMemoryDatabase();
  const now = Date.now();
  const zone = afternoonZone(now);
  for (let index = 0; index < users; index += 1)
    database.users.set(`u${index}`, userDoc(index, true, now, zone));
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 20);
  const dispatcher = createHttpDispatcher({
    appUrl: `http://127.0.0.1:${address.port}`,
    cronSecret: "bench-secret-0123456789",
    timeoutMs: 10_000,
  });
  const { run, wallMs } = await engineTick(createInMemorySchedulerStore(database), now, dispatcher);
  clearInterval(sampler);
  await new Promise<void>((resolve) => processor.close(() => resolve()));
  const group = `fan-out ${users.toLocaleString("en-US")} users (concurrency ${settings.dispatchConcurrency})`;
  record({
    group,
    name: "scheduler wall time",
    value: wallMs / 1000,
    unit: "s",
    ...(users === 1_000 ? { target: "≤ 10 s", met: wallMs <= 10_000 } : {}),
  });
  record({
    group,
    name: "dispatch throughput",
    value: run.results.jobsCreated / (wallMs / 1000),
    unit: "calls/s",
  });
  record({ group, name: "processor calls received", value: received, unit: "calls" });
  // The bench process also holds the in-process emulator and the data seeded so far.
  record({ group, name: "peak RSS of the bench process", value: peakRss / 1024 / 1024, unit: "MiB" });
}

function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((first, second) => first - second);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? 0;
}

/**
 * The processor as production wires it (services/processor.ts `wireProcessor`, the route's own
 * wiring): processing state, the LLM breaker, the global ceiling (LLM_CALLS_PER_MINUTE set, far
 * above what the bench asks), per-user quotas, the insights refresh before generation and the
 * own-key lookup (ENCRYPTION_KEY set); only the LLM endpoint (the sandbox) comes from the
 * configuration here.
 */
function processorDeps(db: Firestore, sandbox: LlmSandbox, projectId: string): ProcessorDeps {
  const config = loadConfig({
    NODE_ENV: "production",
    FIREBASE_PROJECT_ID: projectId,
    OPENROUTER_API_KEY: "sk-or-bench",
    OPENROUTER_BASE_URL: sandbox.baseURL,
    COACHING_MODEL: "bench/coach",
    SCORING_MODEL: "bench/scorer",
    LLM_TIMEOUT_MS: "30000",
    LLM_MAX_RETRIES: "0",
    LLM_CALLS_PER_MINUTE: "100000",
    ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    // A prompt experiment's variant files, to measure the processor with one running.
    ...(process.env.PROMPT_VARIANTS_DIR ? { PROMPT_VARIANTS_DIR: process.env.PROMPT_VARIANTS_DIR } : {}),
  });
  return wireProcessor({
    config,
    storage: firestoreProcessorStorage(db, config),
    onStep: () => undefined,
    warn: () => undefined,
  });
}

/**
 * Due users with five journal entries, one a day, and insights analysed three days ago: the last
 * two entries are newer, so every run refreshes the insights before generating, as production does.
 */
async function seedProcessorUsers(db: Firestore, users: number, now: number) {
  const zone = afternoonZone(now);
  await writeInBatches(
    db,
    "users",
    Array.from({ length: users }, (_, index) => [`p${index}`, userDoc(index, true, now, zone)]),
  );
  // Where the engine keeps insights: on the processing state (core/processing-state.ts), as the
  // journal.entry.created events wrote them before the user's first coaching run.
  await writeInBatches(
    db,
    "userProcessingState",
    Array.from({ length: users }, (_, index) => [
      `p${index}`,
      {
        uid: `p${index}`,
        insights: {
          uid: `p${index}`,
          summary: "Settling into a routine; some worry about the launch.",
          themes: [],
          goalsAndCommitments: [],
          moodTrend: "stable",
          challenges: [],
          notableChanges: [],
          latestSummary: "Settling into a routine.",
          analysedThrough: now - 3 * 24 * HOUR - 60_000,
          batches: [],
          updatedAt: now - 3 * 24 * HOUR,
        },
        updatedAt: now - 3 * 24 * HOUR,
      },
    ]),
  );
  for (let index = 0; index < users; index += 1) {
    await writeInBatches(
      db,
      `users/p${index}/journalEntries`,
      Array.from({ length: 5 }, (_, entry) => [
        `e${entry}`,
        {
          content: `Day ${entry}: work, a run, a call with my sister. Some worry about the launch.`,
          createdAt: now - (5 - entry) * 24 * HOUR,
        },
      ]),
    );
  }
}

/** Per-collection figures, per user, largest first ("journalEntries 5.00, users 3.00"). */
function perUser(counts: Record<string, number>, users: number): string {
  return Object.entries(counts)
    .sort(([, first], [, second]) => second - first)
    .map(([collection, count]) => `${collection} ${formatValue(count / users)}`)
    .join(", ");
}

/**
 * One processor run for each of `users` users at `now`, one after another, measured: time, LLM
 * calls, and the emulator's billed reads and writes per user, by collection.
 */
async function measureProcessorRuns({
  emulator,
  deps,
  sandbox,
  projectId,
  users,
  now,
  group,
  target,
}: {
  emulator: RunningEmulator;
  deps: ProcessorDeps;
  sandbox: LlmSandbox;
  projectId: string;
  users: number;
  now: number;
  group: string;
  /** The ≤ 20 target (issue 12) is on a processed user's first run, the costlier one. */
  target: boolean;
}) {
  emulator.resetStats(projectId);
  const callsBefore = sandbox.requests.length;
  const durations: number[] = [];
  let sent = 0;
  for (let index = 0; index < users; index += 1) {
    const started = performance.now();
    const result = await processUser({ deps, uid: `p${index}`, now });
    durations.push(performance.now() - started);
    if (result.kind === "processed" && result.result.outcome === "sent") sent += 1;
  }
  const stats = emulator.stats(projectId);
  const llmCalls = sandbox.requests.length - callsBefore;
  const p95 = percentile(durations, 0.95);
  const operations = (stats.billedReads + stats.writes) / users;
  record({ group, name: "messages sent", value: sent, unit: "users" });
  record({ group, name: "LLM calls", value: llmCalls / users, unit: "calls/user" });
  record({ group, name: "p50 time", value: percentile(durations, 0.5), unit: "ms" });
  record({ group, name: "p95 time", value: p95, unit: "ms", target: "≤ 300 ms", met: p95 <= 300 });
  record({
    group,
    name: "documents read (billed: found, missing, empty queries)",
    value: stats.billedReads / users,
    unit: "docs/user",
  });
  record({ group, name: "documents written", value: stats.writes / users, unit: "docs/user" });
  record({
    group,
    name: "document operations",
    value: operations,
    unit: "ops/user",
    ...(target ? { target: "≤ 20", met: operations <= 20 } : {}),
  });
  breakdowns.push(
    `${group}: reads per user by collection: ${perUser(stats.billedReadsByCollection, users)}; writes per user by collection: ${perUser(stats.writesByCollection, users)}`,
  );
  console.log(`  reads/user by collection: ${perUser(stats.billedReadsByCollection, users)}`);
  console.log(`  writes/user by collection: ${perUser(stats.writesByCollection, users)}`);
}

async function processorOverhead(emulator: RunningEmulator, users: number) {
  console.log(`\nProcessor as production wires it: ${users} users, sandbox LLM at 0 ms, Firestore emulator`);
  const sandbox = await startLlmSandbox();
  const projectId = "bench-processor-production";
  const db = getFirestore(initializeApp({ projectId }, projectId));
  db.settings({ ignoreUndefinedProperties: true });
  const now = Date.now();
  await seedProcessorUsers(db, users, now);
  const deps = processorDeps(db, sandbox, projectId);
  await measureProcessorRuns({
    emulator,
    deps,
    sandbox,
    projectId,
    users,
    now,
    group: `processor per user, as production wires it (${users} users, sequential)`,
    target: true,
  });
  // The same users due again a day later (the same local hour): their processing state, a sent
  // message and analysed insights now exist, as for every run after a user's first. The sandbox
  // knows six lines and every bench user has the same journal, so yesterday's message is given
  // other words (as a real model's would be) lest today's draft fail the novelty check.
  const sentYesterday = await db.collection("coachingMessages").where("wasSent", "==", true).get();
  await writeInBatches(
    db,
    "coachingMessages",
    sentYesterday.docs.map((document) => [
      document.id,
      {
        ...document.data(),
        messageContent: `Yesterday's note for ${document.get("uid")}: the launch worry, the 5k, a call to make.`,
      },
    ]),
  );
  const nextDay = now + 24 * HOUR;
  await writeInBatches(
    db,
    "users",
    Array.from({ length: users }, (_, index) => [
      `p${index}`,
      { ...userDoc(index, true, now, afternoonZone(now)), nextCoachingMessageDue: nextDay - 60_000 },
    ]),
  );
  await measureProcessorRuns({
    emulator,
    deps,
    sandbox,
    projectId,
    users,
    now: nextDay,
    group: `processor per user, the same users' next run a day later (${users} users, sequential)`,
    target: false,
  });
  await sandbox.stop();
}

async function endToEnd(users: number, concurrencies: number[]) {
  console.log(`\nEnd to end: ${users} due users, 1.5 s per LLM call`);
  const sandbox = await startLlmSandbox({ latencyMs: 1_500 });
  for (const concurrency of concurrencies) {
    const projectId = `bench-e2e-${concurrency}`;
    const db = getFirestore(initializeApp({ projectId }, projectId));
    db.settings({ ignoreUndefinedProperties: true });
    const now = Date.now();
    await seedProcessorUsers(db, users, now);
    const deps = processorDeps(db, sandbox, projectId);
    const started = performance.now();
    // Each processor run is its own serverless invocation; `concurrency` of them run at once.
    await mapWithConcurrency(
      Array.from({ length: users }, (_, index) => `p${index}`),
      concurrency,
      (uid) => processUser({ deps, uid, now }),
    );
    const wallMs = performance.now() - started;
    const rescheduled = (
      await db.collection("users").where("nextCoachingMessageDue", ">", now).count().get()
    ).data().count;
    const group = `end to end ${users} users, ${concurrency} runs in flight`;
    record({ group, name: "time until all rescheduled", value: wallMs / 1000, unit: "s" });
    record({ group, name: "users rescheduled", value: rescheduled, unit: "users" });
  }
  await sandbox.stop();
}

function markdown(): string {
  const lines = [
    `| group | metric | value | target |`,
    `|---|---|---|---|`,
    ...metrics.map(
      (metric) =>
        `| ${metric.group} | ${metric.name} | ${formatValue(metric.value)} ${metric.unit} | ${
          metric.target ? `${metric.target}: ${metric.met ? "met" : "**not met**"}` : ""
        } |`,
    ),
  ];
  return [...lines, "", ...breakdowns.map((line) => `- ${line}`)].join("\n");
}

/** A project of `count` users with state and two weeks of messages, rolled up once (as the outbox cron does). */
async function seedAdminProject(projectId: string, count: number, now: number): Promise<Firestore> {
  const db = getFirestore(initializeApp({ projectId }, projectId));
  db.settings({ ignoreUndefinedProperties: true });
  const users = Array.from({ length: count }, (_, index) => `admin-${String(index).padStart(5, "0")}`);
  await writeInBatches(
    db,
    "users",
    users.map((uid, index) => [
      uid,
      { ...userDoc(index, index % 10 === 0, now, "UTC"), email: `${uid}@example.com` },
    ]),
  );
  await writeInBatches(
    db,
    "userProcessingState",
    users.map((uid, index) => [
      uid,
      { uid, status: index % 20 === 0 ? "suspended" : "waiting", updatedAt: now },
    ]),
  );
  await writeInBatches(
    db,
    "coachingMessages",
    users.flatMap((uid, index) =>
      Array.from({ length: 3 }, (_, day): [string, Record<string, unknown>] => {
        const createdAt = now - (index % 14) * 24 * HOUR - day * HOUR;
        const sent = day !== 2;
        return [
          `${uid}_${day}`,
          {
            uid,
            createdAt,
            status: sent ? "sent" : "rejected",
            wasSent: sent,
            sentAt: sent ? createdAt : null,
            messageType: "check_in",
            effectivenessRating: 1 + ((index + day) % 10),
          },
        ];
      }),
    ),
  );
  // The rollup's snapshot (users by status) and engagement days, which the dashboard reads.
  await rollUpMetrics({ store: createFirestoreMetricsStore(db), now, elapsedMs: () => 0 });
  return db;
}

/**
 * The admin pages' Firestore cost per render: the dashboard's documents read, count aggregations
 * and queries at two numbers of users (the target: the same at both), on the first render of a
 * UTC day (which also counts the finished days; later ones read them from
 * `systemState/adminDailyCounts`) and later; and a users-table page's queries at the smaller.
 */
async function adminPageReads(emulator: RunningEmulator) {
  console.log("\nAdmin pages: Firestore reads per render (emulator)");
  const now = Date.now();
  const measure = async (projectId: string, action: () => Promise<unknown>) => {
    emulator.resetStats(projectId);
    await action();
    return emulator.stats(projectId);
  };
  const userCounts = quick ? [500, 2_000] : [1_000, 5_000];
  /** Per number of users: the later render's and the status route's reads, aggregations, queries. */
  const costPerCount: string[] = [];
  let smallest: Firestore | undefined;
  let smallestProject = "";
  for (const count of userCounts) {
    const projectId = `bench-admin-pages-${count}`;
    const db = await seedAdminProject(projectId, count, now);
    if (!smallest) {
      smallest = db;
      smallestProject = projectId;
    }
    const group = `admin dashboard, ${count.toLocaleString("en-US")} users`;
    const dashboard = createFirestoreDashboardStore(db);
    const render = (at: number) => dashboard.dashboard({ now: at, days: 14, hours: 24, runCount: 8 });
    const first = await measure(projectId, () => render(now));
    const next = await measure(projectId, () => render(now + 60_000));
    record({
      group,
      name: "first render of the day: documents read",
      value: first.documentsRead,
      unit: "docs",
    });
    record({
      group,
      name: "first render of the day: aggregations",
      value: first.aggregations,
      unit: "counts",
    });
    record({ group, name: "later renders: documents read", value: next.documentsRead, unit: "docs" });
    record({ group, name: "later renders: aggregations", value: next.aggregations, unit: "counts" });
    record({ group, name: "later renders: queries", value: next.queries, unit: "queries" });
    // GET /api/admin/status: the dashboard's status figures without the charts.
    const startOfDay = new Date(now).setUTCHours(0, 0, 0, 0);
    const status = await measure(projectId, () => dashboard.systemCounts({ now, startOfDay }));
    record({ group, name: "status route: documents read", value: status.documentsRead, unit: "docs" });
    record({ group, name: "status route: aggregations", value: status.aggregations, unit: "counts" });
    record({ group, name: "status route: queries", value: status.queries, unit: "queries" });
    const costs = (stats: { documentsRead: number; aggregations: number; queries: number }) =>
      `${stats.documentsRead}/${stats.aggregations}/${stats.queries}`;
    costPerCount.push(`${costs(next)} ${costs(status)}`);
  }
  const independent = new Set(costPerCount).size === 1;
  record({
    group: `admin dashboard, ${userCounts.map((count) => count.toLocaleString("en-US")).join(" vs ")} users`,
    name: "documents read, aggregations and queries per later render and per status call equal at both",
    value: independent ? 1 : 0,
    unit: "(1 = yes)",
    target: "independent of the number of users",
    met: independent,
  });
  if (!smallest) return;
  const group = `admin users page, ${userCounts[0]?.toLocaleString("en-US")} users`;
  const table = createFirestoreUsersTableStore(smallest);
  const plain = await measure(smallestProject, () => table.listUsers({ limit: 25, filters: {} }));
  const filtered = await measure(smallestProject, () =>
    table.listUsers({ limit: 25, filters: { status: "suspended" } }),
  );
  record({
    group,
    name: "users page: queries",
    value: plain.queries,
    unit: "queries",
    target: "≤ 26",
    met: plain.queries <= 26,
  });
  record({ group, name: "users page filtered by status: queries", value: filtered.queries, unit: "queries" });
  record({
    group,
    name: "users page filtered by status: documents read",
    value: filtered.documentsRead,
    unit: "docs",
  });
}

async function main() {
  const startedAt = new Date();
  console.log(
    `coaching-engine bench (${quick ? "quick" : "full"}) on ${os.cpus().length} × ${os.cpus()[0]?.model ?? "CPU"}`,
  );
  const emulator = await startFirestoreEmulator();
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  try {
    if (runs("scheduler")) await schedulerVsScan(emulator);
    if (runs("fan-out")) await fanOut(quick ? 300 : 1_000);
    if (runs("memory")) await inMemory100k();
    if (runs("processor")) await processorOverhead(emulator, quick ? 30 : 100);
    if (runs("end-to-end")) await endToEnd(quick ? 60 : 500, quick ? [20, 60] : [20, 50, 100]);
    if (runs("admin")) await adminPageReads(emulator);
  } finally {
    await emulator.stop();
  }
  if (only !== undefined) {
    console.log("\n--only: results not written");
    process.exit(0);
  }
  const result = {
    command: `npm run bench${quick ? " -- --quick" : ""}`,
    mode: quick ? "quick" : "full",
    date: startedAt.toISOString(),
    durationS: Math.round((Date.now() - startedAt.getTime()) / 1000),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? "unknown",
      memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
      platform: `${os.platform()} ${os.release()}`,
    },
    node: process.version,
    metrics,
  };
  const directory = new URL("../bench/results/", import.meta.url);
  mkdirSync(directory, { recursive: true });
  writeFileSync(new URL("latest.json", directory), `${JSON.stringify(result, null, 2)}\n`);
  const table = `Measured by \`${result.command}\` on ${result.date} (${result.machine.cpus} × ${result.machine.cpuModel}, ${result.machine.memoryGiB} GiB, Node ${result.node}; took ${result.durationS} s).\n\n${markdown()}\n`;
  writeFileSync(new URL("latest.md", directory), table);
  console.log(`\nwrote bench/results/latest.json and bench/results/latest.md (${result.durationS} s)`);
  process.exit(0);
}

await main();
