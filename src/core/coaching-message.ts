/**
 * The coaching message as the model must return it, and the outcome simulation that scores it
 * (docs/generation.md). Model output is untrusted: it is parsed against these schemas, and nothing in
 * it is ever taken as a recipient, a user id or a schedule.
 */
import { z } from "zod";
import { RISK_LEVELS } from "./risk";

export const MESSAGE_TYPES = [
  "check_in",
  "encouragement",
  "challenge",
  "reminder",
  "alignment_reflection",
  "general_reflection",
  "personal_insight",
  "relevant_lesson",
] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export const RECOMMENDED_ACTIONS = ["SEND_MESSAGE", "SKIP_MESSAGE", "REVISE_MESSAGE"] as const;
export type RecommendedAction = (typeof RECOMMENDED_ACTIONS)[number];

/** Push notifications are cut off by every mobile OS around here; the cap keeps the whole text visible. */
export const PUSH_TEXT_MAX_LENGTH = 120;
/** Long enough for a thoughtful paragraph, short enough to read in a notification-driven glance. */
export const MESSAGE_MAX_LENGTH = 1_200;

export const generatedMessageSchema = z.object({
  messageType: z.enum(MESSAGE_TYPES).describe("one of the eight coaching message types"),
  messageContent: z
    .string()
    .min(20)
    .max(MESSAGE_MAX_LENGTH)
    .describe("the coaching message, addressed to the user, plain text, no links"),
  pushNotificationText: z
    .string()
    .min(5)
    .max(PUSH_TEXT_MAX_LENGTH)
    .describe(
      `a single line of at most ${PUSH_TEXT_MAX_LENGTH} characters that invites the user to read the message`,
    ),
  // Carried by the generation call, which reads the entries anyway: no extra call, and the type it
  // picks can follow its own assessment (docs/generation.md "Safety"). Never shown to the user.
  riskLevel: z
    .enum(RISK_LEVELS)
    .describe(
      "your reading of the entries: none; elevated (sustained distress, hopelessness); acute (thoughts of ending their life or harming themselves, or immediate danger)",
    ),
  // No maximum: the engine cuts it to RISK_REASON_MAX_LENGTH (core/risk.ts); a long note must not
  // fail the whole generation (and the run's care) on a schema error.
  riskReason: z
    .string()
    .describe(
      "for the engine's operators only: a few words on the signal, in general terms, never quoting the entries; an empty string when riskLevel is none",
    ),
});
export type GeneratedMessage = z.infer<typeof generatedMessageSchema>;

export const outcomeSimulationSchema = z.object({
  effectivenessRating: z.number().int().min(1).max(10).describe("1 (harmful or useless) to 10 (excellent)"),
  recommendedAction: z.enum(RECOMMENDED_ACTIONS),
  reasoning: z.string().max(1_000).describe("why this rating, in one or two sentences"),
  improvedMessage: z
    .string()
    .max(MESSAGE_MAX_LENGTH)
    .describe("the improved message when recommending REVISE_MESSAGE, otherwise an empty string"),
});
export type OutcomeSimulation = z.infer<typeof outcomeSimulationSchema>;
