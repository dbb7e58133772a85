/**
 * `npm run bench` (full) and `npm run bench -- --quick` (at most 3 minutes): measures the
 * engine on this machine and writes bench/results/latest.json and bench/results/latest.md.
 *
 * Everything is measured, nothing asserted: targets are reported as met or not, with the figure.
 * - scheduler vs full scan on the Firestore emulator (documents read and written, wall time);
 * - the same tick over 100,000 users on the in-memory data layer (reads, writes, CPU time);
 * - fan-out: dispatching due users over HTTP to a local processor stand-in;
 * - processor overhead: the real pipeline on the emulator with the sandbox LLM at 0 ms;
 * - end to end: due users with 1.5 s per LLM call, by number of processor runs in flight.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import os from "node:os";
import { initializeApp } from "firebase-admin/app";
import { type Firestore, getFirestore } from "firebase-admin/firestore";
import { createHttpDispatcher } from "@/adapters/dispatch/http-dispatcher";
import { createFirestoreLlmBreaker } from "@/adapters/firestore/llm-breaker";
import { createFirestoreProcessingStateStore } from "@/adapters/firestore/processing-state-store";
import { createFirestoreProcessorStore } from "@/adapters/firestore/processor-store";
import { createFirestoreQuotaStore } from "@/adapters/firestore/quota-store";
import { createFirestoreSchedulerStore } from "@/adapters/firestore/scheduler-store";
import { createOpenRouterCoach } from "@/adapters/llm/openrouter-coach";
import { createInMemoryDatabase, createInMemorySchedulerStore } from "@/adapters/memory/scheduler-store";
import { getPrompts } from "@/adapters/prompts";
import { isInsideWindow } from "@/core/schedule";
import { decideDueUser } from "@/core/scheduler-decisions";
import { parseUserDocument } from "@/core/user";
import { mapWithConcurrency } from "@/pipeline/bounded-concurrency";
import type { Dispatcher, SchedulerStore } from "@/pipeline/ports";
import { type ProcessorDeps, processUser } from "@/pipeline/process-user";
import { createQuotaCoach } from "@/pipeline/quota-coach";
import { runScheduler, type SchedulerSettings } from "@/pipeline/run-scheduler";
import { type RunningEmulator, startFirestoreEmulator } from "./local-stack/firestore-emulator";
import { type LlmSandbox, startLlmSandbox } from "./local-stack/llm-sandbox";

process.env.METADATA_SERVER_DETECTION = "none";
const quick = process.argv.includes("--quick");
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
 * The processor as production wires it: processing state, the LLM breaker and per-user quotas
 * (`production`), or the bare pipeline (claim, context, generation, storage, journal, reschedule).
 */
function processorDeps(db: Firestore, sandbox: LlmSandbox, production = false): ProcessorDeps {
  const model = createOpenRouterCoach({
    apiKey: "sk-or-bench",
    baseURL: sandbox.baseURL,
    generationModel: "bench/coach",
    scoringModel: "bench/scorer",
    timeoutMs: 30_000,
    maxRetries: 0,
  });
  const extras: Partial<ProcessorDeps> = production
    ? {
        stateStore: createFirestoreProcessingStateStore(db),
        breaker: createFirestoreLlmBreaker(db, {
          failureThreshold: 20,
          cooldownMs: 300_000,
          probeTimeoutMs: 300_000,
        }),
        resolveModel: async (uid, now) =>
          createQuotaCoach({
            model,
            quota: createFirestoreQuotaStore(db),
            uid,
            limits: { perMinute: 15, perDay: 1_500, perMonth: 45_000, monthlyBudgetUsd: 5 },
            now,
            keySource: "default",
          }),
      }
    : {};
  return {
    ...extras,
    store: createFirestoreProcessorStore(db),
    model: createOpenRouterCoach({
      apiKey: "sk-or-bench",
      baseURL: sandbox.baseURL,
      generationModel: "bench/coach",
      scoringModel: "bench/scorer",
      timeoutMs: 30_000,
      maxRetries: 0,
    }),
    prompts: getPrompts(),
    leaseMs: 10 * 60_000,
    suspension: { maxConsecutiveFailures: 5, suspensionMs: 24 * HOUR },
  };
}

async function seedProcessorUsers(db: Firestore, users: number, now: number) {
  const zone = afternoonZone(now);
  await writeInBatches(
    db,
    "users",
    Array.from({ length: users }, (_, index) => [`p${index}`, userDoc(index, true, now, zone)]),
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

async function processorOverhead(emulator: RunningEmulator, users: number, production: boolean) {
  const variant = production ? "with state, breaker and quotas" : "bare pipeline";
  console.log(`\nProcessor overhead (${variant}): ${users} users, sandbox LLM at 0 ms, Firestore emulator`);
  const sandbox = await startLlmSandbox();
  const projectId = `bench-processor-${production ? "production" : "bare"}`;
  const db = getFirestore(initializeApp({ projectId }, projectId));
  db.settings({ ignoreUndefinedProperties: true });
  const now = Date.now();
  await seedProcessorUsers(db, users, now);
  const deps = processorDeps(db, sandbox, production);
  emulator.resetStats(projectId);
  const durations: number[] = [];
  for (let index = 0; index < users; index += 1) {
    const started = performance.now();
    await processUser({ deps, uid: `p${index}`, now });
    durations.push(performance.now() - started);
  }
  const stats = emulator.stats(projectId);
  await sandbox.stop();
  const group = `processor per user, ${variant} (${users} users, sequential)`;
  const p95 = percentile(durations, 0.95);
  const operations = (stats.documentsRead + stats.writes) / users;
  record({ group, name: "p50 time", value: percentile(durations, 0.5), unit: "ms" });
  record({ group, name: "p95 time", value: p95, unit: "ms", target: "≤ 300 ms", met: p95 <= 300 });
  record({ group, name: "documents read", value: stats.documentsRead / users, unit: "docs/user" });
  record({ group, name: "documents written", value: stats.writes / users, unit: "docs/user" });
  record({
    group,
    name: "document operations",
    value: operations,
    unit: "ops/user",
    target: "≤ 15",
    met: operations <= 15,
  });
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
    const deps = processorDeps(db, sandbox);
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
  return lines.join("\n");
}

async function main() {
  const startedAt = new Date();
  console.log(
    `coaching-engine bench (${quick ? "quick" : "full"}) on ${os.cpus().length} × ${os.cpus()[0]?.model ?? "CPU"}`,
  );
  const emulator = await startFirestoreEmulator();
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  try {
    await schedulerVsScan(emulator);
    await fanOut(quick ? 300 : 1_000);
    await inMemory100k();
    await processorOverhead(emulator, quick ? 30 : 100, false);
    await processorOverhead(emulator, quick ? 30 : 100, true);
    await endToEnd(quick ? 60 : 500, quick ? [20, 60] : [20, 50, 100]);
  } finally {
    await emulator.stop();
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
