/**
 * The multi-week simulation behind `npm run simulate`: the real scheduler (`runScheduler`) and
 * processor (`processUser`) on a virtual clock, over the in-memory data layer, with a
 * deterministic model stand-in at the model interface that fails a configurable share of calls.
 */
import { createInMemoryLlmBreaker } from "@/adapters/memory/llm-breaker";
import { createMemoryLlmCeiling } from "@/adapters/memory/llm-ceiling";
import {
  createInMemoryProcessingStateStore,
  type InMemoryProcessingStates,
} from "@/adapters/memory/processing-state-store";
import { createInMemoryProcessorData, createInMemoryProcessorStore } from "@/adapters/memory/processor-store";
import { createInMemoryDatabase, createInMemorySchedulerStore } from "@/adapters/memory/scheduler-store";
import { getPrompts } from "@/adapters/prompts";
import { loadConfig } from "@/config";
import { MESSAGE_TYPES } from "@/core/coaching-message";
import { isInsideWindow, localDate, TIME_WINDOWS } from "@/core/schedule";
import type { CoachModel, LlmCallRecord } from "@/pipeline/model-ports";
import { runScheduler } from "@/pipeline/run-scheduler";
import { createStateQuotaGate } from "@/pipeline/state-quota";
import { wireProcessor } from "@/services/processor";
import { DEMO_ZONES } from "../local-stack/demo-data";
import { processUser } from "../support/process-user";

const HOUR = 3_600_000;
// Early March: the United States leave winter time on March 8, 2026, inside a two-week run.
export const SIMULATION_START = Date.parse("2026-03-02T00:00:00Z");
const START = SIMULATION_START;
const FREQUENCIES = ["daily", "multipleTimesPerWeek", "onceAWeek"] as const;
const PREFERENCES = ["morning", "afternoon", "evening"] as const;

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const WORDS = [
  "steady",
  "morning",
  "launch",
  "run",
  "sister",
  "sleep",
  "focus",
  "walk",
  "plan",
  "kind",
  "rest",
  "call",
];

/** A deterministic model at the interface the pipeline uses; it fails `FAILURE_RATE` of calls. */
function simulatedModel(random: () => number, FAILURE_RATE: number): CoachModel {
  let counter = 0;
  const call = (purpose: LlmCallRecord["purpose"], ok: boolean): LlmCallRecord => ({
    purpose,
    model: "simulated",
    keySource: "default",
    fallbackReason: null,
    ok,
    inputTokens: 800,
    outputTokens: 120,
    totalTokens: 920,
    cost: 0.0042,
    durationMs: 0,
    error: ok ? null : "simulated failure",
  });
  const failure = (purpose: LlmCallRecord["purpose"]) => ({
    ok: false as const,
    retriable: true,
    reason: "simulated provider failure",
    statusCode: 503,
    call: call(purpose, false),
  });
  return {
    generationModel: "simulated",
    scoringModel: "simulated",
    async generateMessage({ purpose }) {
      if (random() < FAILURE_RATE) return failure(purpose);
      counter += 1;
      const words = Array.from({ length: 14 }, () => WORDS[Math.floor(random() * WORDS.length)]).join(" ");
      return {
        ok: true as const,
        call: call(purpose, true),
        output: {
          messageType: MESSAGE_TYPES[Math.floor(random() * MESSAGE_TYPES.length)] ?? "check_in",
          messageContent: `${words}.`,
          pushNotificationText: `A note for you (${counter})`,
          riskLevel: "none" as const,
          riskReason: "",
        },
      };
    },
    async simulateOutcome() {
      if (random() < FAILURE_RATE) return failure("outcome_simulation");
      return {
        ok: true as const,
        call: call("outcome_simulation", true),
        output: {
          effectivenessRating: 8,
          recommendedAction: "SEND_MESSAGE" as const,
          reasoning: "fine",
          improvedMessage: "",
        },
      };
    },
    async analyseJournal() {
      return failure("insights");
    },
  };
}

export interface SimulationOptions {
  users: number;
  days: number;
  failureRate: number;
  seed: number;
  log?: (line: string) => void;
}

export async function simulateWeeks({
  users: USERS,
  days: DAYS,
  failureRate: FAILURE_RATE,
  seed,
  log = () => {},
}: SimulationOptions) {
  const random = mulberry32(seed);
  const startedAt = performance.now();
  const database = createInMemoryDatabase();
  const data = createInMemoryProcessorData();
  const frequencyOf = new Map<string, (typeof FREQUENCIES)[number]>();
  const zoneOf = new Map<string, string>();
  const preferenceOf = new Map<string, (typeof PREFERENCES)[number]>();
  for (let index = 0; index < USERS; index += 1) {
    const uid = `sim-${index}`;
    const frequency = FREQUENCIES[index % 3] ?? "daily";
    const timePreference = PREFERENCES[Math.floor(index / 3) % 3] ?? "morning";
    const timezone = DEMO_ZONES[index % DEMO_ZONES.length] ?? "UTC";
    frequencyOf.set(uid, frequency);
    zoneOf.set(uid, timezone);
    preferenceOf.set(uid, timePreference);
    database.users.set(uid, {
      email: `${uid}@example.com`,
      timezone,
      coachingConfig: { enableCoachingMessages: true, frequency, timePreference },
      nextCoachingMessageDue: null,
    });
    data.journal.set(uid, [
      { id: "e1", content: "Started a new routine this week.", createdAt: START - 48 * HOUR },
      { id: "e2", content: "Tired but hopeful about the launch.", createdAt: START - 24 * HOUR },
    ]);
  }
  // The processor's slots, so the scheduler sees a slot left open and has it finished.
  const schedulerStore = createInMemorySchedulerStore(database, { slots: data.slots });
  // The production wiring (services/processor.ts) over the in-memory twins, the simulated model at
  // the model interface: processing state, breaker, per-user quotas, the insights refresh.
  const config = loadConfig({ NODE_ENV: "test", FIREBASE_PROJECT_ID: "demo-simulation" });
  const model = simulatedModel(random, FAILURE_RATE);
  const states: InMemoryProcessingStates = new Map();
  const stateStore = createInMemoryProcessingStateStore(database, states);
  const deps = wireProcessor({
    config,
    storage: {
      store: createInMemoryProcessorStore(database, data, states),
      stateStore,
      breaker: createInMemoryLlmBreaker(database, new Map(), config.processor.breaker),
      quota: createStateQuotaGate(stateStore),
      userKeys: null,
      ceiling: config.llmCeiling ? createMemoryLlmCeiling(config.llmCeiling) : null,
    },
    models: { defaultModel: model, modelForKey: () => model },
    prompts: getPrompts(),
    onStep: () => undefined,
    warn: () => undefined,
  });
  const lostSchedule = new Set<string>();
  let ticks = 0;
  let dispatches = 0;
  for (let now = START; now < START + DAYS * 24 * HOUR; now += HOUR) {
    ticks += 1;
    const run = await runScheduler({
      store: schedulerStore,
      dispatcher: {
        async dispatch({ userId }) {
          dispatches += 1;
          await processUser({ deps, uid: userId, now });
          return { ok: true, status: 202 };
        },
      },
      settings: {
        pageSize: 500,
        maxUsersPerTick: 1_000_000,
        bootstrapLimit: 1_000_000,
        timeBudgetMs: Number.POSITIVE_INFINITY,
        disabledRecheckMs: 24 * HOUR,
        dispatchConcurrency: 50,
      },
      now,
      trigger: "test",
      runId: `sim-${now}`,
      elapsedMs: () => 0,
      random,
    });
    if (run.status !== "completed")
      throw new Error(`tick at ${new Date(now).toISOString()} failed: ${run.failureReason}`);
    // After every tick each user must hold a future due time.
    for (const [uid, document] of database.users) {
      const due = document.nextCoachingMessageDue;
      if (typeof due !== "number" || due <= now) lostSchedule.add(uid);
    }
    if (ticks % 24 === 0) log(`  day ${ticks / 24}: ${data.sentByUser.size} users have messages`);
  }

  const sent = [...data.messages.values()].filter((message) => message.wasSent);
  const bySlot = new Map<string, number>();
  for (const message of sent) bySlot.set(message.slotId, (bySlot.get(message.slotId) ?? 0) + 1);
  const duplicateSlots = [...bySlot.values()].filter((count) => count > 1).length;
  const perUserDay = new Map<string, number>();
  const localHours = new Array<number>(24).fill(0);
  const perDay = new Array<number>(DAYS).fill(0);
  let atTargetHour = 0;
  let outsideWindow = 0;
  for (const message of sent) {
    const timezone = zoneOf.get(message.uid) ?? "UTC";
    const at = message.sentAt ?? message.createdAt;
    const key = `${message.uid}:${localDate({ at, timezone })}`;
    perUserDay.set(key, (perUserDay.get(key) ?? 0) + 1);
    const hour = Number(
      new Intl.DateTimeFormat("en-GB", { timeZone: timezone, hour: "2-digit", hourCycle: "h23" }).format(at),
    );
    localHours[hour] = (localHours[hour] ?? 0) + 1;
    const target = TIME_WINDOWS[preferenceOf.get(message.uid) ?? "morning"].targetHour;
    if (hour === target) atTargetHour += 1;
    if (!isInsideWindow({ at, timezone, timePreference: preferenceOf.get(message.uid) ?? "morning" })) {
      outsideWindow += 1;
    }
    const day = Math.floor((at - START) / (24 * HOUR));
    if (day >= 0 && day < DAYS) perDay[day] = (perDay[day] ?? 0) + 1;
  }
  const byFrequency = Object.fromEntries(
    FREQUENCIES.map((frequency) => {
      const users = [...frequencyOf.values()].filter((value) => value === frequency).length;
      const messages = sent.filter((message) => frequencyOf.get(message.uid) === frequency).length;
      return [frequency, { users, messages, perUserPerLocalDay: messages / Math.max(1, users * DAYS) }];
    }),
  );
  const attempts = data.messages.size;
  const result = {
    command: `npm run simulate -- --users ${USERS} --days ${DAYS} --failure-rate ${FAILURE_RATE} --seed ${seed}`,
    date: new Date().toISOString(),
    node: process.version,
    users: USERS,
    days: DAYS,
    failureRate: FAILURE_RATE,
    ticks,
    processorRuns: dispatches,
    attemptsStored: attempts,
    messagesSent: sent.length,
    messagesPerUserPerLocalDayByFrequency: byFrequency,
    maxMessagesPerUserPerLocalDay: Math.max(0, ...perUserDay.values()),
    sendsAtTargetHour: atTargetHour,
    sendsAtTargetHourShare: sent.length ? atTargetHour / sent.length : 0,
    localSendHours: localHours,
    sendsPerDay: perDay,
    usersWhoLostTheirSchedule: lostSchedule.size,
    duplicateMessagesPerSlot: duplicateSlots,
    sendsOutsideTheWindow: outsideWindow,
    wallTimeS: Math.round((performance.now() - startedAt) / 100) / 10,
  };
  return result;
}
