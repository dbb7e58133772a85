/**
 * Many seeds of the chaos simulation (run-seed.ts), stopping at the first invariant violation
 * (or, with `keepGoing`, recording each seed's first one), with the fault counts summed over
 * every seed run and the fault kinds that were never injected named.
 */
import { runSeed, type SeedResult } from "./run-seed";
import { chaosSettings, type FaultRates } from "./world";

/** Every kind of fault the harness can inject; a run that misses one did not test it. */
export const FAULT_KINDS = [
  "store.fail_before",
  "store.applied_then_fail",
  "process.crash_before",
  "process.crash_after",
  "llm.error",
  "llm.timeout",
  "llm.malformed",
  "llm.outage",
  "mail.error",
  "mail.409",
  "mail.sent_then_error",
  "dispatch.lost",
  "dispatch.response_lost",
  "dispatch.duplicate",
  "cron.overlapping_tick",
  "cron.duplicate_tick",
  "outbox.overlapping_run",
  "clock.jump",
  "clock.jump_across_dst",
  "app.toggle_off",
  "app.toggle_on",
  "app.toggle_off_on_after_message",
  "app.stray_event",
] as const;

export interface ChaosOptions {
  /** The seeds to run, in order. */
  seeds: readonly number[];
  days: number;
  users: number;
  rates?: FaultRates;
  /** Run every seed and report each seed's first violation, instead of stopping at the first. */
  keepGoing?: boolean;
  /**
   * Run every seed to its end, past violations, and log each invariant's first violation per
   * seed (to see which seed shows which defect); implies `keepGoing`.
   */
  carryOn?: boolean;
  log?: (line: string) => void;
}

export interface ChaosReport {
  seedsRun: number[];
  days: number;
  users: number;
  faultCounts: Record<string, number>;
  missingFaultKinds: string[];
  /** 0, or the first violation (with its seed and trace); with `keepGoing`, every seed's first. */
  violations: 0 | NonNullable<SeedResult["violation"]> | NonNullable<SeedResult["violation"]>[];
  stats: SeedResult["stats"];
  wallTimeS: number;
}

export async function runChaos({
  seeds,
  days,
  users,
  rates,
  keepGoing = false,
  carryOn = false,
  log = () => {},
}: ChaosOptions): Promise<ChaosReport> {
  const startedAt = performance.now();
  const faultCounts: Record<string, number> = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0]));
  const stats: SeedResult["stats"] = {
    ticks: 0,
    processorRuns: 0,
    outboxRuns: 0,
    messagesSent: 0,
    emailsSent: 0,
    probes: 0,
  };
  const seedsRun: number[] = [];
  const found: NonNullable<SeedResult["violation"]>[] = [];
  for (const seed of seeds) {
    const seedStartedAt = performance.now();
    const result = await runSeed(chaosSettings({ seed, days, users, ...(rates ? { rates } : {}) }), {
      carryOn,
    });
    seedsRun.push(seed);
    for (const [kind, value] of Object.entries(result.faultCounts))
      faultCounts[kind] = (faultCounts[kind] ?? 0) + value;
    for (const key of Object.keys(stats) as (keyof typeof stats)[]) stats[key] += result.stats[key];
    const seconds = ((performance.now() - seedStartedAt) / 1000).toFixed(1);
    log(
      `seed ${seed}: ${result.violation ? `VIOLATION ${result.violation.invariant} at ${result.violation.at}: ${result.violation.detail}` : "ok"} (${result.stats.messagesSent} messages, ${seconds} s)`,
    );
    if (carryOn) {
      for (const violation of result.allViolations)
        log(`  ${violation.invariant} at ${violation.at}: ${violation.detail}`);
    }
    if (result.violation) {
      found.push(result.violation);
      if (!keepGoing && !carryOn) break;
    }
  }
  return {
    seedsRun,
    days,
    users,
    faultCounts,
    missingFaultKinds: FAULT_KINDS.filter((kind) => (faultCounts[kind] ?? 0) === 0),
    violations: found.length === 0 ? 0 : keepGoing || carryOn ? found : (found[0] ?? 0),
    stats,
    wallTimeS: Math.round((performance.now() - startedAt) / 100) / 10,
  };
}
