/** Builders for user documents as the journaling app writes them (docs/data-model.md). */
import type { Frequency, TimePreference } from "@/core/schedule";

export interface UserDocumentOptions {
  email?: string;
  timezone?: string;
  enabled?: boolean;
  frequency?: Frequency;
  timePreference?: TimePreference;
  nextCoachingMessageDue?: number | null;
}

export function userDocument(options: UserDocumentOptions = {}): Record<string, unknown> {
  const document: Record<string, unknown> = {
    email: options.email ?? "someone@example.com",
    timezone: options.timezone ?? "UTC",
    coachingConfig: {
      enableCoachingMessages: options.enabled ?? true,
      frequency: options.frequency ?? "daily",
      timePreference: options.timePreference ?? "morning",
    },
  };
  if (options.nextCoachingMessageDue !== undefined)
    document.nextCoachingMessageDue = options.nextCoachingMessageDue;
  return document;
}
