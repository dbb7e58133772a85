import "server-only";
import { OpenTelemetry } from "@ai-sdk/otel";
import { createOpenRouter } from "@openrouter/ai-sdk-provider";
import { APICallError, generateText, NoObjectGeneratedError, Output } from "ai";
import type { z } from "zod";
import {
  type GeneratedMessage,
  generatedMessageSchema,
  type OutcomeSimulation,
  outcomeSimulationSchema,
} from "@/core/coaching-message";
import { describeError } from "@/core/errors";
import { type JournalInsightsAnalysis, journalInsightsSchema } from "@/core/insights";
import { type CoachModel, type LlmCallRecord, type LlmResult, llmCallRecord } from "@/pipeline/model-ports";

export interface OpenRouterCoachOptions {
  apiKey: string;
  /** Whose key this is, recorded on every call. */
  keySource?: "user" | "default";
  baseURL: string;
  generationModel: string;
  scoringModel: string;
  timeoutMs: number;
  maxRetries: number;
  /** For tests that count or break requests at the HTTP level. */
  fetch?: typeof fetch;
  /**
   * Whether the calls' spans record the prompt and the model's output (OTEL_RECORD_CONTENT).
   * Off by default: the prompt quotes the user's journal.
   */
  recordContent?: boolean;
}

/**
 * The AI SDK's OpenTelemetry integration: a span per call (and per model request) under the
 * active span, through `@opentelemetry/api`, so a no-op until an SDK is registered.
 */
const llmTelemetry = new OpenTelemetry();

function readCost(providerMetadata: unknown): number | null {
  const cost = (providerMetadata as { openrouter?: { usage?: { cost?: unknown } } } | undefined)?.openrouter
    ?.usage?.cost;
  return typeof cost === "number" ? cost : null;
}

/**
 * The error's class and, for a validation failure, the paths and codes of its issues. Never the
 * message: the AI SDK's parse and validation errors quote the model's output ("Text: …",
 * "Value: …"), which must not reach the stored failure reason, the logs or the dashboard.
 */
function describeSchemaFailure(cause: unknown): string {
  if (!(cause instanceof Error)) return "no structured output";
  const issues = (cause.cause as { issues?: unknown } | undefined)?.issues;
  if (!Array.isArray(issues)) return cause.name;
  const described = issues.slice(0, 5).map((issue: { path?: unknown; code?: unknown }) => {
    const path = Array.isArray(issue.path)
      ? issue.path.map((key) => (typeof key === "number" ? key : String(key).slice(0, 40))).join(".")
      : "";
    return `${path || "(root)"} ${typeof issue.code === "string" ? issue.code : "invalid"}`;
  });
  return `${cause.name} (${described.join(", ")})`;
}

/**
 * Whether trying again later could help; a schema violation or a refusal usually will not at once,
 * but may next run. `providerUnavailable`: the provider could not serve the call (the AI SDK's
 * retryable API errors: 408, 409, 429, 5xx, and a failed fetch; a timeout); the processor treats that
 * as an outage, not the user's failure, only on the engine's default key (process-user.ts).
 */
function classify(error: unknown): {
  retriable: boolean;
  reason: string;
  statusCode: number | null;
  providerUnavailable: boolean;
} {
  if (APICallError.isInstance(error)) {
    return {
      retriable: error.isRetryable,
      reason: `LLM API ${error.statusCode ?? "error"}: ${error.message}`.slice(0, 500),
      statusCode: error.statusCode ?? null,
      providerUnavailable: error.isRetryable,
    };
  }
  if (NoObjectGeneratedError.isInstance(error)) {
    return {
      retriable: true,
      reason: `output did not match the schema: ${describeSchemaFailure(error.cause)}`.slice(0, 500),
      statusCode: null,
      providerUnavailable: false,
    };
  }
  const name = error instanceof Error ? error.name : "";
  if (name === "TimeoutError" || name === "AbortError") {
    return { retriable: true, reason: "LLM call timed out", statusCode: null, providerUnavailable: true };
  }
  const cause = (error as { lastError?: unknown } | null)?.lastError;
  if (cause) return classify(cause);
  return { retriable: true, reason: describeError(error), statusCode: null, providerUnavailable: false };
}

/**
 * The coaching and scoring models on OpenRouter, through the AI SDK's structured output. The
 * base URL is configuration, so the same code talks to OpenRouter in production and to the
 * local sandbox in development and tests. Failures come back as data with the usage recorded.
 */
export function createOpenRouterCoach(options: OpenRouterCoachOptions): CoachModel {
  const openrouter = createOpenRouter({
    apiKey: options.apiKey,
    baseURL: options.baseURL,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });

  async function structured<Schema extends z.ZodType>({
    model,
    purpose,
    system,
    prompt,
    schema,
  }: {
    model: string;
    purpose: LlmCallRecord["purpose"];
    system: string;
    prompt: string;
    schema: Schema;
  }): Promise<LlmResult<z.infer<Schema>>> {
    const startedAt = performance.now();
    const record = (fields: Partial<LlmCallRecord>): LlmCallRecord =>
      llmCallRecord({
        purpose,
        model,
        keySource: options.keySource ?? "default",
        durationMs: Math.round(performance.now() - startedAt),
        ...fields,
      });
    try {
      const result = await generateText({
        // usage.include asks OpenRouter to report the cost of the call.
        model: openrouter.chat(model, { usage: { include: true } }),
        system,
        prompt,
        output: Output.object({ schema }),
        maxRetries: options.maxRetries,
        timeout: options.timeoutMs,
        temperature: purpose === "generation" || purpose === "regeneration" ? 0.7 : 0,
        experimental_telemetry: {
          isEnabled: true,
          functionId: `coaching.${purpose}`,
          recordInputs: options.recordContent ?? false,
          recordOutputs: options.recordContent ?? false,
          integrations: llmTelemetry,
        },
      });
      return {
        ok: true,
        output: result.output as z.infer<Schema>,
        call: record({
          ok: true,
          inputTokens: result.usage.inputTokens ?? null,
          outputTokens: result.usage.outputTokens ?? null,
          totalTokens: result.usage.totalTokens ?? null,
          cost: readCost(result.providerMetadata),
        }),
      };
    } catch (error) {
      const { retriable, reason, statusCode, providerUnavailable } = classify(error);
      const usage = NoObjectGeneratedError.isInstance(error) ? error.usage : undefined;
      return {
        ok: false,
        retriable,
        reason,
        statusCode,
        providerUnavailable,
        call: record({
          error: reason,
          inputTokens: usage?.inputTokens ?? null,
          outputTokens: usage?.outputTokens ?? null,
          totalTokens: usage?.totalTokens ?? null,
        }),
      };
    }
  }

  return {
    generationModel: options.generationModel,
    scoringModel: options.scoringModel,
    generateMessage: ({ system, prompt, purpose }): Promise<LlmResult<GeneratedMessage>> =>
      structured({ model: options.generationModel, purpose, system, prompt, schema: generatedMessageSchema }),
    simulateOutcome: ({ system, prompt }): Promise<LlmResult<OutcomeSimulation>> =>
      structured({
        model: options.scoringModel,
        purpose: "outcome_simulation",
        system,
        prompt,
        schema: outcomeSimulationSchema,
      }),
    analyseJournal: ({ system, prompt }): Promise<LlmResult<JournalInsightsAnalysis>> =>
      structured({
        model: options.scoringModel,
        purpose: "insights",
        system,
        prompt,
        schema: journalInsightsSchema,
      }),
  };
}
