/**
 * Which message-generation prompt a user's run uses: the control, or the variant of the running
 * experiment the user is assigned to (core/prompt-experiments.ts), unless an operator stopped it.
 */
import { describeError } from "@/core/errors";
import { assignVariant, CONTROL_VARIANT, variantKey } from "@/core/prompt-experiments";
import type { ChoosePrompt, Prompts } from "./model-ports";

/** The variants an operator stopped (`systemState/promptExperiments`), as variant keys. */
export interface StoppedVariantsReader {
  /** Answered from a short per-process cache where the store keeps one: ~0 reads per run. */
  stoppedVariants(now: number): Promise<ReadonlySet<string>>;
}

/**
 * The prompt chooser of a wiring. Without an experiment it reads nothing and records no variant.
 * When the stopped variants cannot be read, the run uses the control: a stopped variant must not
 * come back during an outage, and the control is the prompt everyone had before the experiment.
 */
export function createPromptChooser({
  prompts,
  stops,
  warn,
}: {
  prompts: Pick<Prompts, "messageGeneration" | "messageGenerationExperiment">;
  stops: StoppedVariantsReader;
  warn?: (message: string, context: Record<string, unknown>) => void;
}): ChoosePrompt {
  const experiment = prompts.messageGenerationExperiment;
  return async ({ uid, now }) => {
    if (!experiment) return { variant: null, messageGeneration: prompts.messageGeneration };
    const control = {
      variant: variantKey(experiment.id, CONTROL_VARIANT),
      messageGeneration: prompts.messageGeneration,
    };
    let stopped: ReadonlySet<string>;
    try {
      const keys = await stops.stoppedVariants(now);
      stopped = new Set(
        experiment.variants
          .filter((variant) => keys.has(variantKey(experiment.id, variant.id)))
          .map((variant) => variant.id),
      );
    } catch (error) {
      warn?.("stopped prompt variants not read; the run uses the control prompt", {
        error: describeError(error),
      });
      return control;
    }
    const assigned = assignVariant({ uid, experiment, stopped });
    const variant = experiment.variants.find((candidate) => candidate.id === assigned);
    if (!variant) return control;
    return {
      variant: variantKey(experiment.id, variant.id),
      messageGeneration: { text: variant.text, version: variant.version },
    };
  };
}
