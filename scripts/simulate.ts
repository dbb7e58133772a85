/**
 * `npm run simulate -- [flags]`: the capacity simulation (simulation/capacity/capacity-cli.ts
 * lists its flags). `npm run simulate -- --logic --users 10000 --days 14 [--failure-rate 0.05]
 * [--seed 7]`: the logic simulation below. `npm run simulate -- --chaos --seeds 50 --days 7 --users 2000
 * --json`: the chaos simulation with fault injection (simulation/chaos/cli.ts lists its flags).
 *
 * The logic simulation runs the real scheduler and processor logic on a virtual clock (see simulation/simulate-weeks.ts)
 * and reports messages per user per local day by frequency, local send hours, users who ever lost
 * their schedule, duplicate messages per slot; writes bench/results/simulation.json and
 * bench/results/simulation.svg.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { runCapacityCli } from "./simulation/capacity/capacity-cli";
import { runChaosCli } from "./simulation/chaos/cli";
import { SIMULATION_START, simulateWeeks } from "./simulation/simulate-weeks";

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : Number.NaN;
  return Number.isFinite(value) ? value : fallback;
}

function svgBars(
  title: string,
  labels: string[],
  values: number[],
  x: number,
  y: number,
  width: number,
  height: number,
) {
  const max = Math.max(1, ...values);
  const slot = width / labels.length;
  const bars = values
    .map((value, index) => {
      const barHeight = (value / max) * (height - 30);
      const left = x + index * slot;
      return `<rect x="${left + 2}" y="${y + height - 20 - barHeight}" width="${Math.max(1, slot - 4)}" height="${barHeight}" fill="#2f5d50"><title>${labels[index]}: ${value}</title></rect><text x="${left + slot / 2}" y="${y + height - 6}" font-size="10" text-anchor="middle" fill="#57606a">${labels[index]}</text>`;
    })
    .join("");
  return `<text x="${x}" y="${y - 6}" font-size="13" fill="#1f2328">${title} (max ${max})</text>${bars}`;
}

async function main() {
  const users = argument("users", 10_000);
  const days = argument("days", 14);
  const failureRate = argument("failure-rate", 0.05);
  const seed = argument("seed", 7);
  console.log(`simulate: ${users} users, ${days} days, failure rate ${failureRate}, seed ${seed}`);
  const result = await simulateWeeks({ users, days, failureRate, seed, log: (line) => console.log(line) });
  const { localSendHours: localHours, sendsPerDay: perDay } = result;
  const USERS = users;
  const DAYS = days;
  const START = SIMULATION_START;
  const directory = new URL("../bench/results/", import.meta.url);
  mkdirSync(directory, { recursive: true });
  writeFileSync(new URL("simulation.json", directory), `${JSON.stringify(result, null, 2)}\n`);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="title" width="900" height="420" viewBox="0 0 900 420" font-family="system-ui, sans-serif"><title id="title">Simulation of ${USERS} users over ${DAYS} days: messages sent by local hour and by day</title><rect width="900" height="420" fill="#fff"/>${svgBars(
    "Messages sent by the user's local hour",
    localHours.map((_, hour) => String(hour).padStart(2, "0")),
    localHours,
    20,
    30,
    860,
    170,
  )}${svgBars(
    `Messages sent per day (UTC), from ${new Date(START).toISOString().slice(0, 10)}`,
    perDay.map((_, day) => String(day + 1)),
    perDay,
    20,
    240,
    860,
    170,
  )}</svg>\n`;
  writeFileSync(new URL("simulation.svg", directory), svg);
  console.log(JSON.stringify({ ...result, localSendHours: undefined, sendsPerDay: undefined }, null, 2));
  console.log("wrote bench/results/simulation.json and bench/results/simulation.svg");
}

if (process.argv.includes("--chaos")) process.exitCode = await runChaosCli(process.argv);
else if (process.argv.includes("--logic")) await main();
else await runCapacityCli(process.argv.slice(2));
