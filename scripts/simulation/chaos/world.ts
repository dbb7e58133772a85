/**
 * The simulated world of one seed: the in-memory data layer, the virtual clock, the users, the
 * LLM outage schedule, the fault books and the trace. Nothing here knows how the engine is wired
 * (that is run-seed.ts) or what must hold (invariants.ts).
 */
import {
  createInMemoryEventStore,
  createInMemoryOutboxData,
  type InMemoryOutboxData,
} from "@/adapters/memory/event-store";
import type { InMemoryProbeClaims } from "@/adapters/memory/llm-breaker";
import type { InMemoryProcessingStates } from "@/adapters/memory/processing-state-store";
import { createInMemoryProcessorData, type InMemoryProcessorData } from "@/adapters/memory/processor-store";
import { createInMemoryDatabase, type InMemoryDatabase } from "@/adapters/memory/scheduler-store";
import type { BreakerSettings } from "@/core/circuit-breaker";
import type { RetryPolicy } from "@/core/event-retry";
import type { SuspensionPolicy } from "@/core/suspension";
import type { EventStore } from "@/pipeline/event-ports";
import { DEMO_ZONES } from "../../local-stack/demo-data";
import type { MailerFaultRates, ModelFaultRates } from "./fakes";
import { type Random, seededRandom } from "./random";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;

/** The US leave winter time here (07:00 UTC is 02:00 in New York): every run crosses it. */
export const US_DST_START = Date.parse("2026-03-08T07:00:00Z");

export interface FaultRates {
  /** Per call of a store or breaker port, per kind. */
  store: { failBefore: number; appliedThenFail: number; crashBefore: number; crashAfter: number };
  model: ModelFaultRates;
  mailer: MailerFaultRates;
  /** Per dispatch: lost before the processor, answered but the answer lost, sent twice. */
  dispatch: { lost: number; responseLost: number; duplicate: number };
  /** Per hourly tick: a second tick at the same time, or one a few minutes late. */
  cron: { overlapping: number; duplicateLate: number };
  /** Per outbox run: a second one at the same time. */
  outboxOverlapping: number;
  /** Per virtual minute: the clock jumps forward 10–120 minutes (missed cron ticks). */
  clockJump: number;
  /** LLM outages per simulated day (at least one per seed), 5 minutes to 6 hours each. */
  outagesPerDay: number;
  /**
   * Per user per day (`toggle`), the journaling app changes a user's coaching switch: turns it off, on
   * (publishing `user.coaching.enabled`, now and then without `status`/`next_attempt_at`, as an
   * app may write it), or off and at once on again right after the user's message.
   */
  app: { toggle: number; strayEvent: number };
}

export const DEFAULT_FAULT_RATES: FaultRates = {
  store: { failBefore: 0.002, appliedThenFail: 0.002, crashBefore: 0.001, crashAfter: 0.001 },
  model: { error: 0.02, timeout: 0.01, malformed: 0.01 },
  mailer: { error: 0.03, conflict: 0.02, sentThenError: 0.02 },
  dispatch: { lost: 0.01, responseLost: 0.01, duplicate: 0.03 },
  cron: { overlapping: 0.1, duplicateLate: 0.1 },
  outboxOverlapping: 0.1,
  clockJump: 1 / 1440,
  outagesPerDay: 1,
  app: { toggle: 0.05, strayEvent: 0.2 },
};

export interface ChaosSettings {
  seed: number;
  users: number;
  /** Days with faults; a quiet period without faults follows. */
  days: number;
  rates: FaultRates;
  /** Processor lease (PROCESSOR_LEASE_MS). */
  leaseMs: number;
  eventLeaseMs: number;
  eventPolicy: RetryPolicy;
  eventBatchSize: number;
  breaker: BreakerSettings;
  suspension: SuspensionPolicy;
  tickIntervalMs: number;
  outboxIntervalMs: number;
  /**
   * While faults are on, how old a due time, an approved message or an expired slot lease may
   * get before it counts as stuck (each retry may be hit by a fault too).
   */
  chaosSlackMs: number;
  /** The same for a ready outbox event (the outbox runs every few minutes, so far less is needed). */
  outboxChaosSlackMs: number;
}

export function chaosSettings(overrides: Partial<ChaosSettings> & { seed: number }): ChaosSettings {
  return {
    users: 200,
    days: 1,
    rates: DEFAULT_FAULT_RATES,
    leaseMs: 10 * MINUTE,
    eventLeaseMs: 2 * MINUTE,
    eventPolicy: { maxRetries: 5, baseDelayMs: 30_000, maxDelayMs: HOUR, maxAgeMs: 24 * HOUR },
    eventBatchSize: 20,
    // A low threshold so that small worlds open the breaker in an outage too.
    // The probe window is the processor route's maxDuration, as BREAKER_PROBE_TIMEOUT_MS defaults to.
    breaker: { failureThreshold: 5, cooldownMs: 5 * MINUTE, probeTimeoutMs: 5 * MINUTE },
    suspension: { maxConsecutiveFailures: 5, suspensionMs: 24 * HOUR },
    tickIntervalMs: HOUR,
    outboxIntervalMs: 5 * MINUTE,
    chaosSlackMs: 12 * HOUR,
    outboxChaosSlackMs: 3 * HOUR,
    ...overrides,
  };
}

/** The last steps of a run, for the report of a violation. */
export class Trace {
  private readonly lines: string[] = [];
  constructor(
    private readonly clock: { now: number },
    private readonly keep = 20_000,
  ) {}
  add(line: string): void {
    this.lines.push(`${new Date(this.clock.now).toISOString().slice(5, 16)} ${line}`);
    if (this.lines.length > this.keep * 2) this.lines.splice(0, this.lines.length - this.keep);
  }
  /** The last `count` steps, and the last steps that mention any of `subjects` (a user, slot or event). */
  excerpt(count: number, subjects: readonly string[] = []): { last: string[]; related: string[] } {
    return {
      last: this.lines.slice(-count),
      related: this.lines.filter((line) => subjects.some((subject) => line.includes(subject))).slice(-count),
    };
  }
}

export interface World {
  settings: ChaosSettings;
  random: Random;
  /** The journaling app's dice (see app.ts). */
  appRandom: Random;
  clock: { now: number };
  start: number;
  /** Faults stop here; the quiet period runs to `end`. */
  quietStart: number;
  /** From here on the fault-free bounds apply (leases and retries from the fault period are over). */
  settledAt: number;
  end: number;
  database: InMemoryDatabase;
  data: InMemoryProcessorData;
  outbox: InMemoryOutboxData;
  events: EventStore;
  probes: InMemoryProbeClaims;
  processingStates: InMemoryProcessingStates;
  outages: { start: number; end: number }[];
  /** Users who are enabled and valid: the ones the schedule invariant covers. */
  coachedUsers: Set<string>;
  /** When the app last switched a user's coaching on (absent: on from the start, or never). */
  coachedSince: Map<string, number>;
  faultCounts: Record<string, number>;
  trace: Trace;
}

export function faultsOn(world: World): boolean {
  return world.clock.now < world.quietStart;
}

export function count(world: World, kind: string): void {
  world.faultCounts[kind] = (world.faultCounts[kind] ?? 0) + 1;
}

/** Whether the provider is down at `at`; during the quiet period it never is. */
export function llmDown(world: World, at: number): boolean {
  return world.outages.some((outage) => outage.start <= at && at < outage.end);
}

/** The end of the last outage that began by `at` (the start of the run if none); Infinity while one lasts. */
export function llmHealthySince(world: World, at: number): number {
  let since = world.start;
  for (const outage of world.outages) {
    if (outage.start > at) continue;
    if (at < outage.end) return Number.POSITIVE_INFINITY;
    since = Math.max(since, outage.end);
  }
  return since;
}

const FREQUENCIES = ["daily", "multipleTimesPerWeek", "onceAWeek"] as const;
const PREFERENCES = ["morning", "afternoon", "evening"] as const;

export function createWorld(settings: ChaosSettings): World {
  const random = seededRandom(settings.seed);
  // The journaling app's own dice (user document shapes, coaching switches): a stream apart, so
  // the users, outages and faults a seed draws are the same with or without the app's doings.
  const appRandom = seededRandom(settings.seed ^ 0x5eed_a99);
  // A start on the hour between 12:00 and 17:00 UTC the day before the US change, so every run crosses it.
  const start = Date.parse("2026-03-07T12:00:00Z") + random.integer(0, 5) * HOUR;
  const quietStart = start + settings.days * 24 * HOUR;
  const settleMs = settings.leaseMs + 2 * settings.tickIntervalMs;
  const clock = { now: start };
  const database = createInMemoryDatabase();
  const data = createInMemoryProcessorData();
  const outbox = createInMemoryOutboxData();
  const coachedUsers = new Set<string>();
  for (let index = 0; index < settings.users; index += 1) {
    const uid = `u${index}`;
    const enabled = !random.chance(0.05);
    if (enabled) coachedUsers.add(uid);
    const document: Record<string, unknown> = {
      email: `${uid}@example.com`,
      displayName: appRandom.chance(0.05) ? null : `User ${index}`,
      timezone: random.pick(DEMO_ZONES),
      coachingConfig: {
        enableCoachingMessages: enabled,
        frequency: random.pick(FREQUENCIES),
        timePreference: random.pick(PREFERENCES),
        emailNotifications: !random.chance(0.1),
      },
    };
    // Most users wait for the bootstrap; the rest are due somewhere in the next day. Of those
    // waiting, most hold an explicit null; some lack the field or hold a value of another type (a
    // Timestamp, a string), which only the scheduler's sweep by document id finds.
    if (random.chance(0.6)) {
      const shape = appRandom();
      if (shape < 0.75) document.nextCoachingMessageDue = null;
      else if (shape < 0.87)
        document.nextCoachingMessageDue = { _seconds: Math.floor(start / 1000), _nanoseconds: 0 };
      else if (shape < 0.92) document.nextCoachingMessageDue = new Date(start).toISOString();
    } else {
      document.nextCoachingMessageDue = start + random.integer(-120, 24 * 60) * MINUTE;
    }
    database.users.set(uid, document);
    data.journal.set(uid, [
      { id: `${uid}-e1`, content: "Started a new routine this week.", createdAt: start - 48 * HOUR },
      { id: `${uid}-e2`, content: "Tired but hopeful about the launch.", createdAt: start - 24 * HOUR },
    ]);
  }
  const outages: { start: number; end: number }[] = [];
  const outageCount = Math.max(1, Math.round(settings.days * settings.rates.outagesPerDay));
  for (let index = 0; index < outageCount; index += 1) {
    // Log-uniform between 5 minutes and 6 hours: mostly short, now and then long.
    const durationMs = Math.round(5 * MINUTE * Math.exp(random() * Math.log(72)));
    const outageStart = start + Math.floor(random() * Math.max(1, quietStart - durationMs - start));
    outages.push({ start: outageStart, end: Math.min(quietStart, outageStart + durationMs) });
  }
  return {
    settings,
    random,
    appRandom,
    clock,
    start,
    quietStart,
    settledAt: quietStart + settleMs,
    end: quietStart + settleMs + 3 * HOUR,
    database,
    data,
    outbox,
    events: createInMemoryEventStore(data.events, outbox),
    probes: new Map(),
    processingStates: new Map(),
    outages,
    coachedUsers,
    coachedSince: new Map(),
    // Outages are planned up front; the model stand-in counts the calls that hit one.
    faultCounts: { "llm.outage": outages.length },
    trace: new Trace(clock),
  };
}
