/**
 * `npm run simulate -- [--users N] [--days N] [--zones even|skewed|<IANA zone>]
 *   [--frequency daily|multipleTimesPerWeek|onceAWeek|mixed] [--preference morning|afternoon|evening|mixed]
 *   [--llm-per-minute N] [--function-concurrency N] [--failure-rate X] [--llm-p50-ms N] [--llm-p95-ms N]
 *   [--max-users-per-tick N] [--time-budget-ms N] [--dispatch-concurrency N] [--page-size N] [--max-chain-steps N]
 *   [--seed N] [--chart PATH] [--json]`
 *
 * Progress, changed defaults and the chart's path go to stderr; the report to stdout (with
 * `--json`, as one JSON object).
 */
import { writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { FREQUENCIES, isValidTimezone, TIME_PREFERENCES } from "@/core/schedule";
import { dueVersusServedChart } from "./capacity-chart";
import { DEFAULT_LLM_LATENCY, LLM_COST_USD } from "./cost-model";
import type { FrequencyChoice, PreferenceChoice } from "./population";
import {
  type CapacityOptions,
  productionDefaults,
  type SchedulerConfig,
  simulateCapacity,
} from "./run-capacity";

const REAL =
  "scheduler: runScheduler (src/pipeline/run-scheduler.ts) and its cron chain (step claims, cursors, continuations, the pace of dispatches and of writes on users, the per-minute share of the LLM ceiling, the chain's time bound) with production settings parsed from src/config's defaults (LLM_CALLS_PER_MINUTE from --llm-per-minute) and derived as services/scheduler.ts does (schedulerSettingsFromConfig), its decisions (core/scheduler-decisions.ts), ranks (core/due-rank.ts) and due times (core/schedule.ts); processor claim check decideProcessing (core/due-slot.ts); reschedules nextDueAfterSuccess / retryDueAt (core/schedule.ts) written through SchedulerStore.setNextDue";
const MODELLED =
  "store: an indexed in-memory SchedulerStore (passes the store contract tests) with Firestore costs from the bench in virtual time; dispatch and the chain's call to its own route: bench throughput, no HTTP; processor: outcome level (function instances; one reservation of the run's expected LLM calls from the global per-minute ceiling, exact per UTC minute, and when it is spent a deferral due at the next minute plus up to 5 s of jitter; two LLM calls with lognormal latency and a failure rate per provider request, each call retried by the SDK up to LLM_MAX_RETRIES times with its 2 s, 4 s … backoff; the bench's per-user overhead), not process-user.ts; per-user quotas, the breaker, suspension and delivery are not modelled";

function flag(argv: readonly string[], name: string): string | undefined {
  const index = argv.indexOf(`--${name}`);
  return index >= 0 ? argv[index + 1] : undefined;
}

function numberFlag(argv: readonly string[], name: string): number | undefined {
  const value = flag(argv, name);
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) throw new Error(`--${name} must be a non-negative number`);
  return parsed;
}

function choice<Choice extends string>(
  argv: readonly string[],
  name: string,
  allowed: readonly Choice[],
  fallback: Choice,
) {
  const value = flag(argv, name) ?? fallback;
  if (!allowed.includes(value as Choice)) throw new Error(`--${name} must be one of ${allowed.join(", ")}`);
  return value as Choice;
}

/** Parses the flags; throws with a message naming the flag when one is wrong. */
export function parseCapacityFlags(
  argv: readonly string[],
): CapacityOptions & { json: boolean; chart?: string } {
  const zones = flag(argv, "zones") ?? "skewed";
  if (zones !== "even" && zones !== "skewed" && !isValidTimezone(zones)) {
    throw new Error("--zones must be even, skewed or an IANA time zone");
  }
  const overrides: Partial<SchedulerConfig> = {};
  const settingFlags = {
    "max-users-per-tick": "maxUsersPerTick",
    "time-budget-ms": "timeBudgetMs",
    "dispatch-concurrency": "dispatchConcurrency",
    "page-size": "pageSize",
    "max-chain-steps": "maxChainSteps",
  } as const;
  for (const [name, setting] of Object.entries(settingFlags)) {
    const value = numberFlag(argv, name);
    if (value !== undefined) overrides[setting] = value;
  }
  const p50Ms = numberFlag(argv, "llm-p50-ms") ?? DEFAULT_LLM_LATENCY.p50Ms;
  const p95Ms = numberFlag(argv, "llm-p95-ms") ?? DEFAULT_LLM_LATENCY.p95Ms;
  return {
    users: Math.max(1, Math.floor(numberFlag(argv, "users") ?? 10_000)),
    days: Math.max(1, Math.floor(numberFlag(argv, "days") ?? 3)),
    zones,
    frequency: choice<FrequencyChoice>(argv, "frequency", [...FREQUENCIES, "mixed"], "mixed"),
    preference: choice<PreferenceChoice>(argv, "preference", [...TIME_PREFERENCES, "mixed"], "mixed"),
    seed: numberFlag(argv, "seed") ?? 7,
    llmCallsPerMinute: numberFlag(argv, "llm-per-minute"),
    functionConcurrency: numberFlag(argv, "function-concurrency") ?? 1_000,
    failureRate: numberFlag(argv, "failure-rate") ?? 0.05,
    latency: { p50Ms, p95Ms },
    schedulerOverrides: overrides,
    json: argv.includes("--json"),
    chart: flag(argv, "chart"),
  };
}

/** The defaults this run changes from production, for stderr and the report. */
function changedDefaults(options: CapacityOptions) {
  const production = productionDefaults();
  const changed: { setting: string; production: number | null; simulated: number }[] = [];
  for (const [setting, value] of Object.entries(options.schedulerOverrides ?? {})) {
    const productionValue = production.scheduler[setting as keyof SchedulerConfig];
    if (typeof value === "number" && value !== productionValue) {
      changed.push({ setting, production: Number(productionValue), simulated: value });
    }
  }
  if (options.llmCallsPerMinute !== undefined && options.llmCallsPerMinute !== production.llmCallsPerMinute) {
    changed.push({
      setting: "LLM_CALLS_PER_MINUTE",
      production: Number.isFinite(production.llmCallsPerMinute) ? production.llmCallsPerMinute : null,
      simulated: options.llmCallsPerMinute,
    });
  }
  return changed;
}

export async function runCapacityCli(argv: readonly string[]): Promise<void> {
  let options: ReturnType<typeof parseCapacityFlags>;
  try {
    options = parseCapacityFlags(argv);
  } catch (error) {
    console.error(`simulate: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 2;
    return;
  }
  const changed = changedDefaults(options);
  for (const { setting, production, simulated } of changed) {
    console.error(`simulate: ${setting} changed from production ${production ?? "(none)"} to ${simulated}`);
  }
  console.error(
    `simulate: capacity, ${options.users} users, ${options.days} days, zones ${options.zones}, frequency ${options.frequency}, preference ${options.preference}, seed ${options.seed}`,
  );
  const result = await simulateCapacity({ ...options, log: (line) => console.error(line) });
  const chartPath =
    options.chart ??
    path.join(
      os.tmpdir(),
      `capacity-${[options.users, options.zones, options.frequency, options.preference, options.llmCallsPerMinute ?? "default", options.seed].join("-").replace(/[^\w.-]+/g, "-")}.svg`,
    );
  writeFileSync(
    chartPath,
    dueVersusServedChart({
      title: `${options.users.toLocaleString("en-US")} users, zones ${options.zones}: slots due vs messages sent per hour`,
      dueByHour: result.dueByHour,
      servedByHour: result.servedByHour,
      start: result.start,
    }),
  );
  console.error(`simulate: chart written to ${chartPath}`);
  const { dueByHour: _due, servedByHour: _served, production, settings, start, ...figures } = result;
  const report = {
    mode: "capacity",
    command: `npm run simulate -- ${argv.join(" ")}`.trim(),
    date: new Date().toISOString(),
    node: process.version,
    real: REAL,
    modelled: MODELLED,
    parameters: {
      users: options.users,
      days: options.days,
      zones: options.zones,
      frequency: options.frequency,
      preference: options.preference,
      seed: options.seed,
      functionConcurrency: options.functionConcurrency,
      llmRequestFailureRate: options.failureRate,
      llmLatencyMs: options.latency,
      llmCostUsdPerCall: LLM_COST_USD,
      start: new Date(start).toISOString(),
    },
    schedulerSettings: settings,
    changedFromProduction: changed,
    ...figures,
    llmCallsPerMinute: Number.isFinite(figures.llmCallsPerMinute) ? figures.llmCallsPerMinute : null,
    productionLlmCallsPerMinute: Number.isFinite(production.llmCallsPerMinute)
      ? production.llmCallsPerMinute
      : null,
    chart: chartPath,
  };
  if (options.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}
