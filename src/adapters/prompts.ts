import "server-only";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { promptExperimentSchema } from "@/core/prompt-experiments";
import { logger } from "@/logger";
import type { LoadedPromptExperiment, Prompts } from "@/pipeline/model-ports";

const VERSION_LINE = /^<!--\s*prompt-version:\s*(\S+)\s*-->\s*\n/;

function loadPrompt(name: string): { text: string; version: string } {
  // `prompts/` ships with the deployment through next.config's outputFileTracingIncludes.
  const raw = readFileSync(path.join(process.cwd(), "prompts", `${name}.md`), "utf8");
  const match = VERSION_LINE.exec(raw);
  if (!match?.[1]) throw new Error(`prompts/${name}.md must start with <!-- prompt-version: … -->`);
  return { text: raw.slice(match[0].length).trim(), version: match[1] };
}

/** `prompts/variants/message-generation.<variant>.md`: one variant of the message-generation prompt. */
const VARIANT_FILE = /^message-generation\.([^.]+)\.md$/;
const FRONT_MATTER = /^---\n([\s\S]*?)\n---\n/;

const frontMatterSchema = z.object({
  experiment: z.string().min(1),
  variant: z.string().min(1),
  share: z.coerce.number(),
  version: z.string().min(1),
});

function parseFrontMatter(raw: string, file: string) {
  const match = FRONT_MATTER.exec(raw.replace(/\r\n/g, "\n"));
  if (!match?.[1])
    throw new Error(`${file} must start with front matter (--- experiment, variant, share, version ---)`);
  const fields: Record<string, string> = {};
  for (const line of match[1].split("\n")) {
    if (!line.trim() || line.trim().startsWith("#")) continue;
    const separator = line.indexOf(":");
    if (separator < 1) throw new Error(`${file}: front matter line "${line}" is not "key: value"`);
    fields[line.slice(0, separator).trim()] = line
      .slice(separator + 1)
      .trim()
      .replace(/^["']|["']$/g, "");
  }
  const parsed = frontMatterSchema.safeParse(fields);
  if (!parsed.success) {
    throw new Error(
      `${file}: ${parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`).join("; ")}`,
    );
  }
  return { ...parsed.data, text: raw.replace(/\r\n/g, "\n").slice(match[0].length).trim() };
}

/**
 * The experiment in `directory` (`prompts/variants/`), validated whole when it is loaded, so a bad
 * file stops the deployment's first request with a message naming it instead of failing per user:
 * front matter on every file, the variant id matching the file name, one experiment id across the
 * files, ids unique, shares in [0, 1] adding up to at most 1 (the control takes the rest). Variants
 * are listed by id: the assignment's order (core/prompt-experiments.ts `assignVariant`). Null when
 * the directory holds no variant file.
 */
/**
 * The part of the control prompt every variant keeps word for word: from the care rules for a user
 * who may be struggling to the end (the risk assessment, the helpline rule, the security rules). A
 * variant changes the tone and the body; without these it would switch off crisis detection.
 */
const FIXED_RULES_START = "Care for a user who may be struggling:";

/** The rules every variant must keep, from the control prompt on disk (for variant authors and tests). */
export function fixedPromptRules(): string {
  return fixedRules(loadPrompt("message-generation").text);
}

function fixedRules(control: string): string {
  const start = control.indexOf(FIXED_RULES_START);
  if (start < 0) throw new Error(`prompts/message-generation.md: no "${FIXED_RULES_START}" section`);
  return control.slice(start).trim();
}

export function loadPromptExperiment(
  directory: string,
  control: string = loadPrompt("message-generation").text,
): LoadedPromptExperiment | null {
  if (!existsSync(directory)) return null;
  const files = readdirSync(directory)
    .filter((name) => VARIANT_FILE.test(name))
    .sort();
  if (files.length === 0) return null;
  const variants = files.map((name) => {
    const file = `prompts/variants/${name}`;
    const variant = parseFrontMatter(readFileSync(path.join(directory, name), "utf8"), file);
    if (variant.variant !== VARIANT_FILE.exec(name)?.[1]) {
      throw new Error(`${file}: variant "${variant.variant}" does not match the file name`);
    }
    if (variant.text.length === 0) throw new Error(`${file}: the prompt text is empty`);
    if (!variant.text.includes(fixedRules(control))) {
      throw new Error(
        `${file}: must keep the control prompt's rules from "${FIXED_RULES_START}" to its end, word for word`,
      );
    }
    return variant;
  });
  const experimentIds = [...new Set(variants.map((variant) => variant.experiment))];
  if (experimentIds.length > 1) {
    throw new Error(`prompts/variants/: one experiment at a time, found ${experimentIds.join(", ")}`);
  }
  const candidate = {
    id: experimentIds[0],
    variants: variants.map(({ variant, share, version }) => ({ id: variant, share, version })),
  };
  const parsed = promptExperimentSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new Error(
      `prompts/variants/: ${parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`).join("; ")}`,
    );
  }
  return {
    id: parsed.data.id,
    variants: parsed.data.variants.map((variant, index) => ({
      ...variant,
      text: variants[index]?.text ?? "",
    })),
  };
}

const cached = new Map<string, Prompts>();

/**
 * The versioned prompt files and the running prompt experiment, read and validated once per
 * process. `variantsDirectory`: PROMPT_VARIANTS_DIR (config `promptVariantsDirectory`), relative
 * to the project root; null or absent: `prompts/variants`.
 */
export function getPrompts({ variantsDirectory }: { variantsDirectory?: string | null } = {}): Prompts {
  // Not traced by the bundler: `prompts/**` ships through next.config's outputFileTracingIncludes.
  const directory = path.resolve(
    /* turbopackIgnore: true */ process.cwd(),
    variantsDirectory ?? path.join("prompts", "variants"),
  );
  let prompts = cached.get(directory);
  if (!prompts) {
    const messageGeneration = loadPrompt("message-generation");
    prompts = {
      messageGeneration,
      outcomeSimulation: loadPrompt("outcome-simulation"),
      journalInsights: loadPrompt("journal-insights"),
      messageGenerationExperiment: experimentOrNone(directory, messageGeneration.text),
    };
    cached.set(directory, prompts);
  }
  return prompts;
}

/**
 * A variant file that does not validate switches the experiment off (everyone gets the control
 * prompt), loudly, rather than failing every request that needs the prompts: generation, delivery,
 * the rollup and the dashboard would all stop for a typo in one experiment file.
 */
function experimentOrNone(directory: string, control: string): LoadedPromptExperiment | null {
  try {
    return loadPromptExperiment(directory, control);
  } catch (error) {
    logger.error("prompt experiment off: a variant file is invalid; every user gets the control prompt", {
      component: "prompts",
      error,
    });
    return null;
  }
}
