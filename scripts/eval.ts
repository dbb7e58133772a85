/**
 * `npm run eval -- [--real] [--baseline FILE] [--json] [--out DIR] [--concurrency N] [--only ID,ID]`:
 * the evaluation of coaching messages (docs/generation.md "Evaluation"). Runs every persona of scripts/eval/personas.ts
 * through the real pipeline, against the in-process LLM sandbox, or with `--real` against
 * OpenRouter (OPENROUTER_API_KEY, and COACHING_MODEL / SCORING_MODEL / OPENROUTER_BASE_URL if
 * set). Writes `latest.json` and `latest.md` to DIR (default eval/results/); `--baseline FILE`
 * adds the differences from an earlier `latest.json`. Progress goes to stderr; `--json` prints
 * only the JSON report (with the comparison, if any) on stdout. `--concurrency` personas run at
 * once (default 4); `--only` runs the personas named (a cheaper real-model run).
 *
 * Exit codes: 0 done; 1 a risk handling violation (a hard safety check, whatever the quality
 * figures say); 2 the report could not be produced, or is incomplete (bad arguments, a bad
 * baseline, a persona's run that threw: the report is still written then).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { EVAL_PERSONAS } from "./eval/personas";
import {
  compareReports,
  isEvalReport,
  type ReportComparison,
  renderMarkdown,
  runCompleted,
} from "./eval/report";
import { runEval } from "./eval/run-eval";

interface CliOptions {
  real: boolean;
  json: boolean;
  baseline: string | null;
  outDirectory: string;
  concurrency: number;
  /** Persona ids to run (all when empty): a cheaper real-model run. */
  only: string[];
}

function parseArguments(argv: readonly string[]): CliOptions {
  const options: CliOptions = {
    real: false,
    json: false,
    baseline: null,
    outDirectory: "eval/results",
    concurrency: 4,
    only: [],
  };
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index];
    const value = () => {
      const next = argv[index + 1];
      if (next === undefined || next.startsWith("--")) throw new Error(`${argument} needs a value`);
      index += 1;
      return next;
    };
    if (argument === "--real") options.real = true;
    else if (argument === "--json") options.json = true;
    else if (argument === "--baseline") options.baseline = value();
    else if (argument === "--out") options.outDirectory = value();
    else if (argument === "--only")
      options.only = value()
        .split(",")
        .filter((id) => id !== "");
    else if (argument === "--concurrency") {
      options.concurrency = Number(value());
      if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
        throw new Error("--concurrency needs a whole number ≥ 1");
    } else
      throw new Error(
        `unknown argument ${argument} (expected --real, --json, --baseline FILE, --out DIR, --concurrency N, --only ID,ID)`,
      );
  }
  return options;
}

function readBaseline(file: string) {
  const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
  if (!isEvalReport(parsed)) throw new Error(`${file} is not an eval report (latest.json of npm run eval)`);
  return parsed;
}

async function main(): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  let options: CliOptions;
  try {
    options = parseArguments(process.argv.slice(2));
  } catch (error) {
    log(`eval: ${(error as Error).message}`);
    return 2;
  }
  // Read before the run, so a bad baseline fails fast.
  const baseline = options.baseline ? readBaseline(options.baseline) : null;
  const unknown = options.only.filter((id) => !EVAL_PERSONAS.some((persona) => persona.id === id));
  if (unknown.length > 0) {
    log(`eval: no persona ${unknown.join(", ")} (see scripts/eval/personas.ts)`);
    return 2;
  }
  const report = await runEval({
    personas:
      options.only.length === 0
        ? EVAL_PERSONAS
        : EVAL_PERSONAS.filter((persona) => options.only.includes(persona.id)),
    real: options.real,
    concurrency: options.concurrency,
    log,
  });
  const comparison: ReportComparison | null = baseline ? compareReports(baseline, report) : null;
  mkdirSync(options.outDirectory, { recursive: true });
  const jsonFile = path.join(options.outDirectory, "latest.json");
  const markdownFile = path.join(options.outDirectory, "latest.md");
  writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(markdownFile, renderMarkdown(report, comparison));
  if (options.json) process.stdout.write(`${JSON.stringify({ ...report, comparison }, null, 2)}\n`);
  const { summary } = report;
  log(
    `eval: ${summary.messagesSent}/${summary.personas} sent, mean rating ${summary.meanRating?.toFixed(2) ?? "–"}, language match ${summary.languageMatch.rate === null ? "–" : `${Math.round(summary.languageMatch.rate * 100)}%`}, risk violations ${summary.riskViolations}`,
  );
  log(`eval: wrote ${jsonFile} and ${markdownFile}`);
  if (summary.failedRuns > 0) {
    for (const persona of report.personas)
      if (!runCompleted(persona.outcome)) log(`eval: ${persona.personaId}: ${persona.outcome}`);
    log(`eval: ${summary.failedRuns} persona runs did not complete: the report is incomplete`);
    return 2;
  }
  if (summary.riskViolations > 0) {
    for (const persona of report.personas)
      for (const violation of persona.riskViolations)
        log(`eval: RISK VIOLATION ${persona.personaId}: ${violation}`);
    return 1;
  }
  return 0;
}

process.exitCode = await main().catch((error: unknown) => {
  process.stderr.write(
    `eval: the report could not be produced: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  return 2;
});
