import "server-only";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Prompts } from "@/pipeline/model-ports";

const VERSION_LINE = /^<!--\s*prompt-version:\s*(\S+)\s*-->\s*\n/;

function loadPrompt(name: string): { text: string; version: string } {
  // `prompts/` ships with the deployment through next.config's outputFileTracingIncludes.
  const raw = readFileSync(path.join(process.cwd(), "prompts", `${name}.md`), "utf8");
  const match = VERSION_LINE.exec(raw);
  if (!match?.[1]) throw new Error(`prompts/${name}.md must start with <!-- prompt-version: … -->`);
  return { text: raw.slice(match[0].length).trim(), version: match[1] };
}

let cached: Prompts | undefined;

/** The versioned prompt files, read once per process. */
export function getPrompts(): Prompts {
  cached ??= {
    messageGeneration: loadPrompt("message-generation"),
    outcomeSimulation: loadPrompt("outcome-simulation"),
    journalInsights: loadPrompt("journal-insights"),
  };
  return cached;
}
