/** The `coachingMessages` record of an attempt: what was generated, scored and spent, and why it ended. */
import { type CoachingContext, describeContext } from "@/core/coaching-context";
import { type GeneratedMessage, MESSAGE_MAX_LENGTH, PUSH_TEXT_MAX_LENGTH } from "@/core/coaching-message";
import type { SlotRecord } from "@/core/due-slot";
import { sanitiseModelText, toSingleLine } from "@/core/message-text";
import { RISK_REASON_MAX_LENGTH } from "@/core/risk";
import type { CoachModel, LlmCallRecord, PromptChoice } from "../model-ports";
import type { StoredMessage } from "../processor-store-ports";
import { currentTraceId } from "../tracing";
import type { ProcessorDeps } from "./run";

export interface AttemptBase {
  context: CoachingContext;
  slot: SlotRecord;
  now: number;
  calls: LlmCallRecord[];
  model: CoachModel;
  /** The run's message-generation prompt and the experiment variant it records (`promptVariant`). */
  prompt: PromptChoice;
}

function sumUsage(calls: readonly LlmCallRecord[]): StoredMessage["tokenUsage"] {
  const costs = calls.map((call) => call.cost).filter((cost): cost is number => cost !== null);
  return {
    inputTokens: calls.reduce((total, call) => total + (call.inputTokens ?? 0), 0),
    outputTokens: calls.reduce((total, call) => total + (call.outputTokens ?? 0), 0),
    totalTokens: calls.reduce((total, call) => total + (call.totalTokens ?? 0), 0),
    cost: costs.length ? costs.reduce((total, cost) => total + cost, 0) : null,
  };
}

export function messageRecord(
  deps: ProcessorDeps,
  { context, slot, now, calls, model, prompt }: AttemptBase,
  fields: Pick<StoredMessage, "id" | "status" | "generationAttempt" | "failureReason"> &
    Partial<StoredMessage>,
): StoredMessage {
  const { user } = context;
  return {
    uid: user.uid,
    slotId: slot.slotId,
    createdAt: now,
    updatedAt: now,
    messageContent: "",
    messageType: null,
    pushNotificationText: null,
    originalMessageContent: null,
    effectivenessRating: null,
    recommendedAction: null,
    outcomeReasoning: null,
    wasSent: false,
    sentAt: null,
    journalEntryId: null,
    contextUsed: describeContext(context),
    userTimezone: user.timezone,
    userTimePreference: user.coachingConfig.timePreference,
    scheduledFor: slot.dueAt,
    // Every attempt, sent or not, records the language both calls asked for.
    language: context.language.language,
    languageSource: context.language.source,
    // Set from the draft's assessment (docs/generation.md "Safety"); null when no draft was generated.
    riskLevel: null,
    riskReason: null,
    // Written with the attempt itself: no extra document write.
    traceId: currentTraceId(),
    promptVersion: `${prompt.messageGeneration.version}+${deps.prompts.outcomeSimulation.version}`,
    // Top-level, written with the attempt itself: the metrics count by it with an equality. Left
    // out without an experiment, so its composite indexes hold no entry for those messages.
    ...(prompt.variant === null ? {} : { promptVariant: prompt.variant }),
    model: { generation: model.generationModel, scoring: model.scoringModel },
    llmCalls: [...calls],
    tokenUsage: sumUsage(calls),
    delivery: {
      email: { status: "pending", providerId: null, error: null, attemptedAt: null },
      push: { status: "pending", text: null },
    },
    ...fields,
  };
}

/**
 * Model output made safe to store and show: no links, images, markup or control characters. The
 * risk reason is cut to a short note for operators (it is never shown to the user).
 */
export function sanitiseGenerated(output: GeneratedMessage): GeneratedMessage {
  return {
    messageType: output.messageType,
    messageContent: sanitiseModelText(output.messageContent, { maxLength: MESSAGE_MAX_LENGTH }),
    pushNotificationText: toSingleLine(output.pushNotificationText, PUSH_TEXT_MAX_LENGTH),
    riskLevel: output.riskLevel,
    riskReason: toSingleLine(output.riskReason, RISK_REASON_MAX_LENGTH),
  };
}
