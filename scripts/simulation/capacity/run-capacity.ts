/**
 * The capacity simulation: hourly cron ticks of the REAL scheduler (`runScheduler`, production
 * settings parsed from src/config's schema defaults) over an indexed in-memory store, on a
 * virtual clock where store calls and dispatches cost what the bench measured; the processor is
 * MODELLED at its outcome level (processor-model.ts). See docs/benchmarks.md, "Capacity simulation".
 *
 * Users start in steady state: each is owed a message at a target hour of their window, daily
 * users on the first day, others spread over their frequency's days, as if they had been served
 * before. That is where the scheduler is tested hardest: a whole zone's daily morning users share
 * one due instant.
 */
import { type AppConfig, loadConfig } from "@/config";
import { dueRank } from "@/core/due-rank";
import { FREQUENCIES, FREQUENCY_INTERVAL_DAYS, nextWindowTarget, TIME_PREFERENCES } from "@/core/schedule";
import type { ChainContinuation, ChainContinuer } from "@/pipeline/dispatch-ports";
import {
  chainLastStartAt,
  cronChainId,
  runScheduler,
  type SchedulerSettings,
  schedulerSettingsFromConfig,
} from "@/pipeline/run-scheduler";
import { CapacityMetrics } from "./capacity-metrics";
import { DEFAULT_LLM_LATENCY, lognormalSampler } from "./cost-model";
import { EventQueue } from "./event-queue";
import { IndexedSchedulerStore } from "./indexed-scheduler-store";
import {
  createPopulation,
  type FrequencyChoice,
  type Population,
  type PreferenceChoice,
  seededRandom,
  uidOf,
  userOf,
  zonesFor,
} from "./population";
import { EVENT, ProcessorModel } from "./processor-model";
import { SchedulerRunTotals } from "./scheduler-run-totals";
import { dispatchCostMs, TickClock, virtualDispatcher, withVirtualCost } from "./virtual-tick";
import { WindowTable } from "./window-table";

const HOUR_MS = 3_600_000;
/** A Monday with no DST change in the three days after it in any simulated zone. */
export const CAPACITY_START = Date.parse("2026-12-07T00:00:00Z");

export interface CapacityOptions {
  users: number;
  days: number;
  /** `even`, `skewed`, or one IANA zone. */
  zones: string;
  frequency: FrequencyChoice;
  preference: PreferenceChoice;
  seed: number;
  /** `LLM_CALLS_PER_MINUTE`, through the real configuration; undefined for the production default (none). */
  llmCallsPerMinute?: number;
  /** Processor function instances running at once. */
  functionConcurrency: number;
  /** Share of LLM calls that fail. */
  failureRate: number;
  latency?: { p50Ms: number; p95Ms: number };
  /** Scheduler settings that differ from production (reported as changed). */
  schedulerOverrides?: Partial<SchedulerConfig>;
  log?: (line: string) => void;
}

export type SchedulerConfig = AppConfig["scheduler"] & SchedulerSettings;

export interface ProductionDefaults {
  scheduler: SchedulerConfig;
  /** `LLM_CALLS_PER_MINUTE`; Infinity when unset (no ceiling). */
  llmCallsPerMinute: number;
  /** `LLM_MAX_RETRIES`: the SDK's retries of a failed request. */
  llmMaxRetries: number;
}

/**
 * The production settings: src/config's schema with no environment but the LLM ceiling, i.e.
 * its defaults, and the scheduler's settings as services/scheduler.ts derives them (paced to the
 * ceiling when there is one).
 */
export function productionDefaults(llmCallsPerMinute?: number): ProductionDefaults {
  const config = loadConfig({
    NODE_ENV: "production",
    FIREBASE_PROJECT_ID: "capacity-simulation",
    ...(llmCallsPerMinute !== undefined ? { LLM_CALLS_PER_MINUTE: String(llmCallsPerMinute) } : {}),
  });
  return {
    scheduler: schedulerSettingsFromConfig(config),
    llmCallsPerMinute: config.llmCeiling?.callsPerMinute ?? Number.POSITIVE_INFINITY,
    llmMaxRetries: config.llm.maxRetries,
  };
}

/** The first due instant of each (zone, preference) and the next six days' targets. */
function steadyStateTargets(population: Population, start: number): number[][] {
  const targets: number[][] = [];
  for (const timezone of population.zones) {
    for (const timePreference of TIME_PREFERENCES) {
      const days = [nextWindowTarget({ now: start - 1, timezone, timePreference })];
      while (days.length < 7) {
        days.push(nextWindowTarget({ now: days.at(-1) as number, timezone, timePreference }));
      }
      targets.push(days);
    }
  }
  return targets;
}

function seedUsers(
  store: IndexedSchedulerStore,
  population: Population,
  metrics: CapacityMetrics,
  start: number,
  random: () => number,
): void {
  const targets = steadyStateTargets(population, start);
  const configs = FREQUENCIES.map((frequency) =>
    TIME_PREFERENCES.map((timePreference) => ({ enableCoachingMessages: true, frequency, timePreference })),
  );
  for (let user = 0; user < population.size; user += 1) {
    const zone = population.zoneOf[user] as number;
    const frequency = population.frequencyOf[user] as number;
    const preference = population.preferenceOf[user] as number;
    const interval = FREQUENCY_INTERVAL_DAYS[FREQUENCIES[frequency] ?? "daily"];
    const days = targets[zone * TIME_PREFERENCES.length + preference] as number[];
    const due = days[Math.floor(random() * interval)] as number;
    // Documents share their nested config: only top-level fields are ever written.
    store.putUser(uidOf(user), {
      email: "user@example.com",
      timezone: population.zones[zone],
      coachingConfig: configs[frequency]?.[preference],
      nextCoachingMessageDue: due,
      coachingDueRank: dueRank({ uid: uidOf(user), dueAt: due }),
    });
    metrics.owe(user, due);
  }
}

export async function simulateCapacity(options: CapacityOptions) {
  const startedAt = performance.now();
  const log = options.log ?? (() => {});
  const production = productionDefaults();
  const defaults = productionDefaults(options.llmCallsPerMinute);
  const settings: SchedulerConfig = { ...defaults.scheduler, ...options.schedulerOverrides };
  const llmCallsPerMinute = defaults.llmCallsPerMinute;
  const llmMaxRetries = defaults.llmMaxRetries;
  const random = seededRandom(options.seed);
  const start = CAPACITY_START;
  const end = start + options.days * 24 * HOUR_MS;

  const population = createPopulation({
    size: options.users,
    zones: zonesFor(options.zones),
    frequency: options.frequency,
    preference: options.preference,
    random,
  });
  const windows = new WindowTable(population.zones, start, end);
  const metrics = new CapacityMetrics(population, windows, start, end);
  const queue = new EventQueue();
  let processor: ProcessorModel | undefined;
  const store = new IndexedSchedulerStore({
    // A slot is open while its run is in progress (the model keeps no finished slots open).
    isSlotOpen: (slotId) => processor?.isRunning(userOf(slotId.split("_")[0] ?? "")) ?? false,
  });
  processor = new ProcessorModel(store, population, windows, metrics, queue, {
    functionConcurrency: options.functionConcurrency,
    llmCallsPerMinute,
    failureRate: options.failureRate,
    maxRetries: llmMaxRetries,
    latencyMs: lognormalSampler(options.latency ?? DEFAULT_LLM_LATENCY, random),
    random,
  });
  const model = processor;
  seedUsers(store, population, metrics, start, random);
  log(`capacity: ${options.users} users seeded in ${Math.round(performance.now() - startedAt)} ms`);

  const drainUntil = (until: number) => {
    while (queue.size > 0 && queue.peekTime() <= until) {
      const event = queue.pop();
      model.handle(event.kind, event.user, event.time);
    }
  };
  const totals = new SchedulerRunTotals();
  let peakRss = process.memoryUsage().rss;
  const perDispatchMs = dispatchCostMs(settings.dispatchConcurrency);

  /**
   * One step of a cron tick's chain, as the scheduler route runs it. The continuer stands for the
   * route's call to itself: it costs one dispatch, and the next step starts when it was made. A
   * step that waits (for its pace or its minute) moves its clock on, and the processor's events
   * up to then happen meanwhile, as they would in production.
   */
  const tick = async (at: number, step: ChainContinuation) => {
    const clock = new TickClock(at);
    const waitUntil = async (elapsed: number) => {
      if (elapsed <= clock.elapsedMs) return;
      clock.elapsedMs = elapsed;
      drainUntil(clock.now);
    };
    let next: { at: number; step: ChainContinuation } | null = null;
    const continuer: ChainContinuer = {
      async continueChain(continuation) {
        clock.elapsedMs += perDispatchMs;
        next = { at: clock.now, step: continuation };
        return { ok: true, status: 202 };
      },
    };
    const run = await runScheduler({
      store: withVirtualCost(store, clock, (writeAt, count) =>
        metrics.recordUserWrites(writeAt, count, "scheduler"),
      ),
      dispatcher: virtualDispatcher(clock, perDispatchMs, (userId, dispatchAt) =>
        queue.push(dispatchAt, EVENT.dispatch, userOf(userId)),
      ),
      settings,
      now: at,
      trigger: step.step === 0 ? "cron" : "continuation",
      runId: `${new Date(at).toISOString()}_${step.step}`,
      elapsedMs: () => clock.elapsedMs,
      waitUntil,
      random,
      chain: {
        ...step,
        maxSteps: settings.maxChainSteps,
        lastStartAt: chainLastStartAt({
          chainId: step.chainId,
          lastStartMinute: settings.chainLastStartMinute,
        }),
        stepLeaseMs: settings.chainStepLeaseMs,
        continuer,
      },
    });
    totals.add(run);
    return next as { at: number; step: ChainContinuation } | null;
  };

  for (let hour = 0; hour < options.days * 24; hour += 1) {
    const cronAt = start + hour * HOUR_MS;
    drainUntil(cronAt);
    let next = await tick(cronAt, { chainId: cronChainId(cronAt), step: 0, after: null });
    while (next) {
      totals.continuations += 1;
      drainUntil(next.at);
      next = await tick(next.at, next.step);
    }
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    if ((hour + 1) % 24 === 0) {
      log(`capacity: day ${(hour + 1) / 24}: ${model.stats.sent} sent, ${Math.round(peakRss / 2 ** 20)} MiB`);
    }
  }
  drainUntil(end);

  const summary = metrics.summarise(options.days);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const llmCostUsd = model.llmCostUsd;
  return {
    settings,
    llmCallsPerMinute,
    production,
    ...summary,
    llmCeiling: {
      callsPerMinute: Number.isFinite(llmCallsPerMinute) ? llmCallsPerMinute : null,
      peakCallsPerMinute: summary.peakLlmCallsPerMinute,
      deferredByCeiling: model.stats.deferredByLlmCeiling,
    },
    scheduler: totals.summary(),
    processor: { ...model.stats },
    llmCost: {
      totalUsd: llmCostUsd,
      per1000UsersPerMonthUsd: (llmCostUsd / options.users) * 1_000 * (30 / options.days),
    },
    dueByHour: metrics.dueByHour,
    servedByHour: metrics.servedByHour,
    start,
    wallTimeS: Math.round((performance.now() - startedAt) / 100) / 10,
    peakRssMiB: Math.round(peakRss / 2 ** 20),
  };
}

export type CapacityResult = Awaited<ReturnType<typeof simulateCapacity>>;
