/**
 * Prompt experiments (docs/generation.md "Prompt experiments"): variants of the message-generation
 * prompt, each given a share of the users, the rest staying on the current prompt (the control).
 * What a valid experiment is, which variant a user gets, and how the variants compare. Pure: the
 * prompt files are read in adapters/prompts.ts, the stopped variants in adapters/firestore.
 */
import { z } from "zod";
import type { EngagementTally } from "./engagement";
import type { VariantFigures } from "./metrics";
import { cyrb53Halves } from "./string-hash";

/** The variant of everyone not assigned to another one, and of every stopped variant's users. */
export const CONTROL_VARIANT = "control";

const idSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, "lowercase letters, digits and dashes, at most 40 characters");

export const promptVariantSchema = z.object({
  id: idSchema.refine((id) => id !== CONTROL_VARIANT, `"${CONTROL_VARIANT}" is the current prompt's id`),
  share: z.number().min(0).max(1),
  version: z.string().min(1),
});

/** One experiment over the message-generation prompt: its id salts the assignment. */
export const promptExperimentSchema = z
  .object({
    id: idSchema,
    // At most 10: each variant adds its counts to every hour's and day's rollup.
    variants: z.array(promptVariantSchema).min(1).max(10),
  })
  .superRefine((experiment, context) => {
    const ids = experiment.variants.map((variant) => variant.id);
    const duplicate = ids.find((id, index) => ids.indexOf(id) !== index);
    if (duplicate) context.addIssue({ code: "custom", message: `variant id "${duplicate}" is used twice` });
    const total = experiment.variants.reduce((sum, variant) => sum + variant.share, 0);
    // A little slack for shares like 0.1 + 0.2 that do not add up exactly in binary.
    if (total > 1 + 1e-9) {
      context.addIssue({ code: "custom", message: `the variants' shares add up to ${total}, above 1` });
    }
  });

export type PromptVariantDefinition = z.infer<typeof promptVariantSchema>;
export type PromptExperiment = z.infer<typeof promptExperimentSchema>;

/**
 * The key a message records in `promptVariant` and the metrics count by: the experiment and the
 * variant, so figures of an earlier experiment never mix with the current one's.
 */
export function variantKey(experimentId: string, variantId: string): string {
  return `${experimentId}/${variantId}`;
}

/**
 * A user's point in [0, 1) for an experiment: 53 bits of a hash of the experiment id and the uid.
 * The same on every run and every deploy (no seed, no clock), and independent between experiments,
 * so a new experiment does not put the same users in the first variant again.
 */
export function assignmentPoint({ experimentId, uid }: { experimentId: string; uid: string }): number {
  const { h1, h2 } = cyrb53Halves(`${experimentId}\u0000${uid}`);
  return ((h2 & 0x1fffff) * 0x1_0000_0000 + (h1 >>> 0)) / 2 ** 53;
}

/**
 * The variant a user gets: the variants take consecutive ranges of [0, 1) in the order they are
 * listed (the loader lists them by id), each as wide as its share; the rest is the control. A user
 * whose variant is stopped gets the control, and nobody else moves. Changing the shares or the
 * variants of a running experiment moves users between them: start a new experiment id instead.
 */
export function assignVariant({
  uid,
  experiment,
  stopped,
}: {
  uid: string;
  experiment: Pick<PromptExperiment, "id" | "variants">;
  /** Variant ids an operator stopped. */
  stopped: ReadonlySet<string>;
}): string {
  const point = assignmentPoint({ experimentId: experiment.id, uid });
  let upTo = 0;
  for (const variant of experiment.variants) {
    upTo += variant.share;
    if (point < upTo) return stopped.has(variant.id) ? CONTROL_VARIANT : variant.id;
  }
  return CONTROL_VARIANT;
}

/** A share with its 95% confidence interval. */
export interface RateInterval {
  successes: number;
  trials: number;
  rate: number;
  low: number;
  high: number;
}

const Z_95 = 1.959963984540054;

/**
 * The Wilson score interval of `successes` in `trials` (95%): unlike the normal approximation it
 * stays inside [0, 1] and is honest for small samples and rates near 0 or 1. Null with no trials.
 */
export function wilsonInterval(successes: number, trials: number, z = Z_95): RateInterval | null {
  if (trials <= 0) return null;
  // Counted apart (an opened flag without its delivered one, a lost webhook), successes can pass trials.
  successes = Math.max(0, Math.min(successes, trials));
  const rate = successes / trials;
  const zSquared = z * z;
  const centre = (rate + zSquared / (2 * trials)) / (1 + zSquared / trials);
  const halfWidth =
    (z * Math.sqrt((rate * (1 - rate)) / trials + zSquared / (4 * trials * trials))) /
    (1 + zSquared / trials);
  return {
    successes,
    trials,
    rate,
    low: Math.max(0, centre - halfWidth),
    high: Math.min(1, centre + halfWidth),
  };
}

/** A mean with its 95% confidence interval (null bounds below two samples). */
export interface MeanInterval {
  count: number;
  mean: number;
  low: number | null;
  high: number | null;
}

/**
 * The mean rating of a histogram (`counts[index]` ratings of `index + 1`) with a normal 95%
 * confidence interval from the sample standard deviation. Null with no ratings.
 */
export function meanRatingInterval(counts: readonly number[], z = Z_95): MeanInterval | null {
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total <= 0) return null;
  const mean = counts.reduce((sum, count, index) => sum + count * (index + 1), 0) / total;
  if (total < 2) return { count: total, mean, low: null, high: null };
  const squares = counts.reduce((sum, count, index) => sum + count * (index + 1 - mean) ** 2, 0);
  const halfWidth = z * Math.sqrt(squares / (total - 1) / total);
  // Ratings run 1 to 10: an interval from few samples is not allowed past the scale.
  return { count: total, mean, low: Math.max(1, mean - halfWidth), high: Math.min(10, mean + halfWidth) };
}

/** The keys an experiment's messages record and its metrics count: the control's, then each variant's. */
export function experimentVariantKeys(experiment: Pick<PromptExperiment, "id" | "variants">): string[] {
  return [CONTROL_VARIANT, ...experiment.variants.map((variant) => variant.id)].map((id) =>
    variantKey(experiment.id, id),
  );
}

/** One variant's line of the dashboard's comparison. */
export interface VariantComparison {
  variant: string;
  key: string;
  /** The share of users assigned; the control's is what the variants leave. */
  share: number;
  version: string | null;
  stopped: boolean;
  /** Attempts stored (every status). */
  attempts: number;
  /** Of the drafts scored (sent, approved or rejected by the gate), those that passed. */
  gatePass: RateInterval | null;
  meanRating: MeanInterval | null;
  /** Messages sent (engagement), and of them: emails opened and clicked (of those delivered), rated helpful (of those rated). */
  sent: number;
  opened: RateInterval | null;
  clicked: RateInterval | null;
  helpful: RateInterval | null;
}

/**
 * The variants of `experiment` side by side over a range: the gate pass rate and opened, clicked
 * and helpful rates with Wilson intervals, the mean rating with a normal interval, each with its
 * sample size. `figures` and `engagement` are the range's per-variant sums (metrics rollups); a
 * variant with nothing counted has null rates, never a made-up 0.
 */
export function compareVariants({
  experiment,
  stopped,
  figures,
  engagement,
}: {
  experiment: Pick<PromptExperiment, "id" | "variants">;
  stopped: ReadonlySet<string>;
  figures: Readonly<Record<string, VariantFigures>>;
  engagement: readonly ({ variant: string } & EngagementTally)[];
}): VariantComparison[] {
  const variantsShare = experiment.variants.reduce((sum, variant) => sum + variant.share, 0);
  const lines = [
    { id: CONTROL_VARIANT, share: Math.max(0, 1 - variantsShare), version: null },
    ...experiment.variants,
  ];
  return lines.map(({ id, share, version }) => {
    const key = variantKey(experiment.id, id);
    const counted = figures[key];
    const engaged = engagement.find((row) => row.variant === key);
    const scored = counted ? counted.sent + counted.approved + counted.rejected : 0;
    return {
      variant: id,
      key,
      share,
      version,
      stopped: id !== CONTROL_VARIANT && stopped.has(key),
      attempts: counted ? scored + counted.failed : 0,
      gatePass: counted ? wilsonInterval(counted.sent + counted.approved, scored) : null,
      meanRating: counted ? meanRatingInterval(counted.ratings) : null,
      sent: engaged?.sent ?? 0,
      opened: engaged ? wilsonInterval(engaged.opened, engaged.delivered) : null,
      clicked: engaged ? wilsonInterval(engaged.clicked, engaged.delivered) : null,
      helpful: engaged ? wilsonInterval(engaged.helpful, engaged.rated) : null,
    };
  });
}
