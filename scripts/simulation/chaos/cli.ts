/**
 * `npm run simulate -- --chaos [--seeds 50] [--first-seed 1] [--days 7] [--users 2000] [--seed S]
 *   [--keep-going | --carry-on] [--json]`
 *
 * Progress goes to stderr; with `--json` stdout is one JSON object (fault counts, the first
 * violation with its seed and trace, or 0, the seeds run, wall time). `--seed S` replays one seed
 * exactly; `--keep-going` runs every seed and reports each one's first violation; `--carry-on`
 * also runs each seed past its violations and logs every invariant's first violation (which seed
 * shows which defect). Exits 1 on a
 * violation or when a fault kind was never injected.
 */
import { runChaos } from "./run-chaos";

function numberArgument(argv: readonly string[], name: string, fallback: number): number {
  const index = argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(argv[index + 1]) : Number.NaN;
  return Number.isInteger(value) && value >= 0 ? value : fallback;
}

export async function runChaosCli(argv: readonly string[]): Promise<number> {
  const seedCount = numberArgument(argv, "seeds", 50);
  const days = numberArgument(argv, "days", 7);
  const users = numberArgument(argv, "users", 2000);
  const firstSeed = numberArgument(argv, "first-seed", 1);
  const singleSeed = argv.includes("--seed") ? numberArgument(argv, "seed", 1) : null;
  const seeds =
    singleSeed !== null ? [singleSeed] : Array.from({ length: seedCount }, (_, index) => firstSeed + index);
  const json = argv.includes("--json");
  const keepGoing = argv.includes("--keep-going");
  const carryOn = argv.includes("--carry-on");
  const command = `npm run simulate -- --chaos ${singleSeed !== null ? `--seed ${singleSeed}` : `--seeds ${seedCount}`} --days ${days} --users ${users}${keepGoing ? " --keep-going" : ""}${carryOn ? " --carry-on" : ""}${json ? " --json" : ""}`;
  process.stderr.write(`chaos: ${seeds.length} seed(s) from ${seeds[0]}, ${days} day(s), ${users} users\n`);
  const report = await runChaos({
    seeds,
    days,
    users,
    keepGoing,
    carryOn,
    log: (line) => process.stderr.write(`  ${line}\n`),
  });
  const output = { command, date: new Date().toISOString(), node: process.version, ...report };
  if (json) {
    process.stdout.write(`${JSON.stringify(output)}\n`);
  } else {
    const { violations, ...summary } = output;
    console.log(JSON.stringify(summary, null, 2));
    for (const violation of violations === 0 ? [] : Array.isArray(violations) ? violations : [violations]) {
      console.log(
        `\nVIOLATION ${violation.invariant} (seed ${violation.seed}, ${violation.at}): ${violation.detail}`,
      );
      console.log(
        `replay: npm run simulate -- --chaos --seed ${violation.seed} --days ${days} --users ${users}`,
      );
      console.log("steps about it:");
      for (const line of violation.trace.related) console.log(`  ${line}`);
      console.log("last steps:");
      for (const line of violation.trace.last) console.log(`  ${line}`);
    }
  }
  return report.violations === 0 && report.missingFaultKinds.length === 0 ? 0 : 1;
}
