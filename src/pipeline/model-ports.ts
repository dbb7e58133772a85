/**
 * The LLM side of the pipeline: the coach model a run calls, what each call returns and records,
 * the prompts, and how a run gets its model (the user's key or the engine's, admitted under the
 * quotas and the ceiling of `llm-limit-ports.ts`), with the one builder of a call record.
 * OpenRouter sits behind these in `adapters/llm/`.
 */
import type { GeneratedMessage, OutcomeSimulation } from "@/core/coaching-message";
import type { JournalInsightsAnalysis } from "@/core/insights";
import type { PromptVariantDefinition } from "@/core/prompt-experiments";
import type { QuotaLimits } from "@/core/quota";
import type { QuotaGate } from "./llm-limit-ports";

/** One LLM call as recorded on the message: what ran, what it cost, how it ended. */
export interface LlmCallRecord {
  purpose: "generation" | "regeneration" | "outcome_simulation" | "insights";
  model: string;
  /** Whose key paid: the user's own, or the engine's default. */
  keySource: "user" | "default";
  /** Set on a call that was retried on the default key because the user's key was rejected. */
  fallbackReason: string | null;
  ok: boolean;
  inputTokens: number | null;
  outputTokens: number | null;
  totalTokens: number | null;
  /** USD, when the provider reports it (OpenRouter does). */
  cost: number | null;
  durationMs: number;
  error: string | null;
}

/**
 * A call record with nothing measured yet (not ok, no tokens, no cost, no time); `fields` say what
 * is known. The one place the record's defaults are written.
 */
export function llmCallRecord(
  fields: Pick<LlmCallRecord, "purpose" | "model" | "keySource"> & Partial<LlmCallRecord>,
): LlmCallRecord {
  return {
    fallbackReason: null,
    ok: false,
    inputTokens: null,
    outputTokens: null,
    totalTokens: null,
    cost: null,
    durationMs: 0,
    error: null,
    ...fields,
  };
}

export type LlmResult<Output> =
  | { ok: true; output: Output; call: LlmCallRecord }
  | {
      ok: false;
      retriable: boolean;
      reason: string;
      statusCode: number | null;
      /**
       * The provider could not serve the call (429, 5xx, a timeout, the network): not the user's
       * failure. Set by adapters that know; absent, it is judged from `retriable` and
       * `statusCode` (see core/circuit-breaker.ts `isProviderUnavailable`).
       */
      providerUnavailable?: boolean;
      call: LlmCallRecord;
      /** Set when no call was made because a quota is used up: when it frees. */
      quotaRetryAt?: number;
      /** Set when no call was made because the global LLM ceiling is spent: when it frees. */
      ceilingRetryAt?: number;
    };

export interface CoachModel {
  readonly generationModel: string;
  readonly scoringModel: string;
  generateMessage(input: {
    system: string;
    prompt: string;
    purpose: "generation" | "regeneration";
  }): Promise<LlmResult<GeneratedMessage>>;
  simulateOutcome(input: { system: string; prompt: string }): Promise<LlmResult<OutcomeSimulation>>;
  analyseJournal(input: { system: string; prompt: string }): Promise<LlmResult<JournalInsightsAnalysis>>;
}

export interface Prompts {
  messageGeneration: { text: string; version: string };
  outcomeSimulation: { text: string; version: string };
  journalInsights: { text: string; version: string };
  /**
   * The running experiment over the message-generation prompt (`prompts/variants/`), with each
   * variant's text; null when no variant file is there (everyone gets `messageGeneration`).
   */
  messageGenerationExperiment: LoadedPromptExperiment | null;
}

/** An experiment as loaded from its files: each variant with its prompt text. */
export interface LoadedPromptExperiment {
  id: string;
  variants: (PromptVariantDefinition & { text: string })[];
}

/**
 * The message-generation prompt a run uses and the variant it records on its attempts
 * (`promptVariant`: core/prompt-experiments.ts `variantKey`, or null with no experiment).
 */
export interface PromptChoice {
  variant: string | null;
  messageGeneration: { text: string; version: string };
}

/** Chooses the prompt of one user's run (pipeline/prompt-choice.ts). */
export type ChoosePrompt = (input: { uid: string; now: number }) => Promise<PromptChoice>;

/**
 * The model for one run: the calls it expects are admitted once (per-user quota, global
 * ceiling) before the first, and its usage is recorded once by `settle`, which every run calls
 * when its LLM work is over (also after a throw).
 */
export interface RunModel {
  model: CoachModel;
  settle(): Promise<void>;
  /**
   * Whether the user has a key document of their own, when the resolver looked (absent when it
   * did not): the run records it on the processing state, so later runs can skip the lookup.
   */
  ownKeyStored?: boolean;
}

/**
 * Resolves the model for one user's run; `expectedCalls` are admitted at once, before the first.
 * `ownKeyAbsent`: the processing state says the user has no key of their own, so no lookup.
 */
export type ResolveRunModel = (input: {
  uid: string;
  now: number;
  expectedCalls: number;
  ownKeyAbsent?: boolean;
  /**
   * The run's own quota gate: a processor run's decides from the processing state it read at its
   * claim and records with the write that ends the run (pipeline/state-quota.ts). The wiring's
   * gate otherwise.
   */
  quota?: QuotaGate;
}) => Promise<RunModel>;

/** The model a user's run uses: their own key (with the default behind it) or the default. */
export interface ResolvedModel {
  model: CoachModel;
  keySource: "user" | "default";
  limits: QuotaLimits;
}
