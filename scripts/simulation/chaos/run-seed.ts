/**
 * One seed of the chaos simulation: the real scheduler, processor and outbox (processes.ts) on
 * the in-memory twins (engine.ts), on a virtual clock stepped a minute at a time: hourly cron
 * ticks (some overlapping, some duplicated late), an outbox run every five minutes, clock jumps
 * (one across the US DST change), faults at every port, and the invariants (invariants.ts)
 * checked as each minute ends. The same seed replays the same run exactly.
 */
import { appToggles } from "./app";
import { createSimulatedEngine, type PortSabotage, type SimulationStats } from "./engine";
import { InvariantChecker, type Violation } from "./invariants";
import { createProcesses } from "./processes";
import {
  type ChaosSettings,
  count,
  createWorld,
  faultsOn,
  HOUR,
  llmDown,
  MINUTE,
  US_DST_START,
} from "./world";

export interface SeedResult {
  seed: number;
  violation: (Violation & { seed: number; trace: { last: string[]; related: string[] } }) | null;
  faultCounts: Record<string, number>;
  stats: SimulationStats;
  virtualHours: number;
  /** With `carryOn`: the first violation of each invariant, in the order found. */
  allViolations: Violation[];
}

/** What trace lines about a user, slot or event contain: the id itself, and the user's process labels. */
function relatedNeedles(subject: string): string[] {
  const uid = /(?:^|_)(u\d+)_\d+$/.exec(subject)?.[1] ?? (/^u\d+$/.test(subject) ? subject : null);
  return uid ? [subject, `(${uid})`, `${uid}_`] : [subject];
}

/**
 * Runs one seed to its end or its first violation; `carryOn` runs to the end whatever happens and
 * reports each invariant's first violation too (for finding which seed shows which defect).
 * `sabotage` swaps a port for a deliberately broken one (the harness's own test).
 */
export async function runSeed(
  settings: ChaosSettings,
  { carryOn = false, sabotage }: { carryOn?: boolean; sabotage?: PortSabotage } = {},
): Promise<SeedResult> {
  const world = createWorld(settings);
  const { rates } = settings;
  const checker = new InvariantChecker(world);
  const engine = createSimulatedEngine(world, checker, sabotage);
  const { tick, outboxRun, drainAfterWork } = createProcesses(world, checker, engine);
  const { stats } = engine;
  const trace = (line: string) => world.trace.add(line);

  const lateTicks = new Set<number>();
  let jumpedAcrossDst = false;
  while (world.clock.now < world.end && (carryOn || !checker.violation)) {
    const now = world.clock.now;
    const previousMinuteDown = llmDown(world, now - MINUTE);
    if (llmDown(world, now) !== previousMinuteDown)
      trace(`LLM ${previousMinuteDown ? "recovered" : "OUTAGE begins"}`);
    const jobs: Promise<unknown>[] = [];
    if (now % settings.tickIntervalMs === 0) {
      jobs.push(tick("cron"));
      if (faultsOn(world) && world.random.chance(rates.cron.overlapping)) {
        count(world, "cron.overlapping_tick");
        jobs.push(tick("overlapping"));
      }
      if (faultsOn(world) && world.random.chance(rates.cron.duplicateLate)) {
        count(world, "cron.duplicate_tick");
        lateTicks.add(now + world.random.integer(1, 10) * MINUTE);
      }
    }
    if (lateTicks.delete(now)) jobs.push(tick("duplicate"));
    if (now % settings.outboxIntervalMs === 0) {
      jobs.push(outboxRun());
      if (faultsOn(world) && world.random.chance(rates.outboxOverlapping)) {
        count(world, "outbox.overlapping_run");
        jobs.push(outboxRun());
      }
    }
    await Promise.all(jobs);
    await drainAfterWork();
    if (faultsOn(world) && world.appRandom.chance((rates.app.toggle * settings.users) / 1440))
      appToggles(world, now);

    checker.checkBreaker();
    checker.checkBusyAnswers();
    if (now % settings.outboxIntervalMs === 0) checker.checkOutbox();
    if ((now + MINUTE) % HOUR === 0) {
      checker.checkUsers();
      checker.checkSlots();
      checker.checkDailyMessages();
    }

    let next = now + MINUTE;
    if (faultsOn(world) && !jumpedAcrossDst && next >= US_DST_START - 10 * MINUTE) {
      jumpedAcrossDst = true;
      next = US_DST_START + world.random.integer(20, 100) * MINUTE;
      count(world, "clock.jump_across_dst");
      trace(`CLOCK jumps across the US DST change to ${new Date(next).toISOString()}`);
    } else if (faultsOn(world) && world.random.chance(rates.clockJump)) {
      next += world.random.integer(10, 120) * MINUTE;
      count(world, "clock.jump");
      trace(`CLOCK jumps to ${new Date(next).toISOString()}`);
    }
    world.clock.now = next;
  }
  const violation = checker.violation;
  return {
    seed: settings.seed,
    violation: violation
      ? {
          ...violation,
          seed: settings.seed,
          trace: world.trace.excerpt(50, [...relatedNeedles(violation.subject), ...violation.alsoRelated]),
        }
      : null,
    faultCounts: world.faultCounts,
    stats,
    virtualHours: Math.round((world.clock.now - world.start) / HOUR),
    allViolations: [...checker.firstByInvariant.values()],
  };
}
