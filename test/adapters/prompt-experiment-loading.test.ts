/**
 * Loading a prompt experiment from `prompts/variants/`: validated whole at load, so a bad file
 * fails once with a message naming it, never per request; and the stopped variants' read cache.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  createCachedStopsReader,
  newStoppedVariantsCache,
  STOPPED_VARIANTS_CACHE_MS,
} from "@/adapters/prompt-experiment-stops";
import { fixedPromptRules, getPrompts, loadPromptExperiment } from "@/adapters/prompts";

function variantsDirectory(files: Record<string, string>): string {
  const directory = path.join(mkdtempSync(path.join(tmpdir(), "prompt-variants-")), "variants");
  mkdirSync(directory);
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(directory, name), content);
  return directory;
}

/** A variant's text: its own body, then the rules every variant keeps word for word. */
const withRules = (body: string) => `${body}\n\n${fixedPromptRules()}`;

function variantFile(
  fields: Record<string, string | number>,
  text = withRules("Write one short, warm message."),
): string {
  const lines = Object.entries(fields).map(([key, value]) => `${key}: ${value}`);
  return `---\n${lines.join("\n")}\n---\n${text}\n`;
}

describe("loading a prompt experiment", () => {
  it("loads the variants by id with their shares, versions and texts", () => {
    const directory = variantsDirectory({
      "message-generation.warmer.md": variantFile(
        { experiment: "tone-1", variant: "warmer", share: 0.3, version: "mg/3-warmer" },
        withRules("Be warmer."),
      ),
      "message-generation.shorter.md": variantFile(
        { experiment: "tone-1", variant: "shorter", share: "0.2", version: "mg/3-shorter" },
        withRules("Be shorter."),
      ),
      "README.md": "not a variant",
    });
    expect(loadPromptExperiment(directory)).toEqual({
      id: "tone-1",
      variants: [
        { id: "shorter", share: 0.2, version: "mg/3-shorter", text: withRules("Be shorter.") },
        { id: "warmer", share: 0.3, version: "mg/3-warmer", text: withRules("Be warmer.") },
      ],
    });
  });

  it("has no experiment without variant files (the repository's default)", () => {
    expect(loadPromptExperiment(variantsDirectory({}))).toBeNull();
    expect(loadPromptExperiment("/nonexistent/prompts/variants")).toBeNull();
    // The repository's own variant files (none, or an operator's) must load: a bad one fails CI here.
    expect(() => loadPromptExperiment(path.join(process.cwd(), "prompts", "variants"))).not.toThrow();
    expect(() => getPrompts()).not.toThrow();
  });

  it("refuses a variant that drops the control's care and security rules, and then runs everyone on the control", () => {
    const directory = variantsDirectory({
      "message-generation.bare.md": variantFile(
        { experiment: "tone-2", variant: "bare", share: 0.5, version: "mg/3-bare" },
        "Write a short message.",
      ),
    });
    expect(() => loadPromptExperiment(directory)).toThrow(/must keep the control prompt's rules/);
    expect(getPrompts({ variantsDirectory: directory }).messageGenerationExperiment).toBeNull();
  });

  it.each([
    [
      "a share above 1",
      { "message-generation.a.md": variantFile({ experiment: "e", variant: "a", share: 1.5, version: "1" }) },
      /message-generation\.a\.md|variants\.0\.share/,
    ],
    [
      "shares adding up above 1",
      {
        "message-generation.a.md": variantFile({ experiment: "e", variant: "a", share: 0.6, version: "1" }),
        "message-generation.b.md": variantFile({ experiment: "e", variant: "b", share: 0.5, version: "1" }),
      },
      /add up to 1\.1/,
    ],
    [
      "a share that is not a number",
      {
        "message-generation.a.md": variantFile({
          experiment: "e",
          variant: "a",
          share: "lots",
          version: "1",
        }),
      },
      /prompts\/variants\/message-generation\.a\.md: share/,
    ],
    [
      "a variant id that does not match its file name",
      { "message-generation.a.md": variantFile({ experiment: "e", variant: "b", share: 0.1, version: "1" }) },
      /message-generation\.a\.md: variant "b" does not match the file name/,
    ],
    [
      "two experiments at once",
      {
        "message-generation.a.md": variantFile({ experiment: "e1", variant: "a", share: 0.1, version: "1" }),
        "message-generation.b.md": variantFile({ experiment: "e2", variant: "b", share: 0.1, version: "1" }),
      },
      /one experiment at a time, found e1, e2/,
    ],
    [
      "a missing version",
      { "message-generation.a.md": variantFile({ experiment: "e", variant: "a", share: 0.1 }) },
      /message-generation\.a\.md: version/,
    ],
    [
      "no front matter",
      { "message-generation.a.md": "Just a prompt." },
      /message-generation\.a\.md must start with front matter/,
    ],
    [
      "the control's id",
      {
        "message-generation.control.md": variantFile({
          experiment: "e",
          variant: "control",
          share: 0.1,
          version: "1",
        }),
      },
      /"control" is the current prompt's id/,
    ],
  ])("fails at load on %s, naming the problem", (_name, files, message) => {
    expect(() => loadPromptExperiment(variantsDirectory(files))).toThrow(message);
  });
});

describe("the stopped variants' read cache", () => {
  it("reads the document once per cache period, not once per run, and again after it", async () => {
    let reads = 0;
    const reader = createCachedStopsReader({
      read: async () => {
        reads += 1;
        return new Set(["tone-1/warmer"]);
      },
      cache: newStoppedVariantsCache(),
    });
    const now = 1_000_000;
    for (let run = 0; run < 100; run += 1) {
      expect(await reader.stoppedVariants(now + run * 10)).toEqual(new Set(["tone-1/warmer"]));
    }
    expect(reads).toBe(1);
    await reader.stoppedVariants(now + STOPPED_VARIANTS_CACHE_MS);
    expect(reads).toBe(2);
  });

  it("does not cache a failed read", async () => {
    let reads = 0;
    const reader = createCachedStopsReader({
      read: async () => {
        reads += 1;
        if (reads === 1) throw new Error("unavailable");
        return new Set<string>();
      },
      cache: newStoppedVariantsCache(),
    });
    await expect(reader.stoppedVariants(0)).rejects.toThrow("unavailable");
    expect(await reader.stoppedVariants(1)).toEqual(new Set());
    expect(reads).toBe(2);
  });
});
