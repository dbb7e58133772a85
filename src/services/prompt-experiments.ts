import "server-only";
import { getDb } from "@/adapters/firestore/client";
import { readStoppedVariants, setVariantStopped } from "@/adapters/firestore/prompt-experiment-store";
import { getPrompts } from "@/adapters/prompts";
import type { AppConfig } from "@/config";
import { compareVariants, type VariantComparison, variantKey } from "@/core/prompt-experiments";
import { logger } from "@/logger";
import type { MetricsOverview } from "@/pipeline/metrics-overview";

export interface PromptExperimentOverview {
  experimentId: string;
  /** The range compared (the dashboard's 14 days of rollups). */
  from: number;
  to: number;
  variants: VariantComparison[];
}

/**
 * The running experiment's variants compared over the dashboard's 14-day rollups (already read
 * for the dashboard) plus one read of the stopped variants: the cost does not grow with users.
 * Null when no experiment runs.
 */
export async function promptExperimentOverview(
  config: AppConfig,
  days: Pick<MetricsOverview, "totals" | "engagement" | "series">,
): Promise<PromptExperimentOverview | null> {
  const experiment = getPrompts({
    variantsDirectory: config.promptVariantsDirectory,
  }).messageGenerationExperiment;
  if (!experiment) return null;
  const stopped = await readStoppedVariants(getDb(config));
  return {
    experimentId: experiment.id,
    from: days.series[0]?.start ?? days.engagement.from,
    to: days.engagement.to,
    variants: compareVariants({
      experiment,
      stopped,
      figures: days.totals.figures.variants ?? {},
      engagement: days.engagement.byVariant ?? [],
    }),
  };
}

/**
 * An operator stops (or resumes) a variant of the running experiment: its users get the control
 * prompt from their next run (within the processor's read cache). "unknown" for an id that is not
 * one of the running experiment's variants (the control cannot be stopped).
 */
export async function setPromptVariantStopped(
  config: AppConfig,
  { variant, stopped, now }: { variant: string; stopped: boolean; now: number },
): Promise<"done" | "unknown"> {
  const experiment = getPrompts({
    variantsDirectory: config.promptVariantsDirectory,
  }).messageGenerationExperiment;
  if (!experiment?.variants.some((candidate) => candidate.id === variant)) return "unknown";
  const key = variantKey(experiment.id, variant);
  await setVariantStopped(getDb(config), { variantKey: key, stopped, now });
  // The operator's action on record, like the breaker's reset.
  logger.info(stopped ? "prompt variant stopped by an admin" : "prompt variant resumed by an admin", {
    component: "admin",
    variant: key,
  });
  return "done";
}
