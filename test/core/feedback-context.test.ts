import { describe, expect, it } from "vitest";
import {
  buildCoachingContext,
  type PastMessage,
  renderFeedbackSummary,
  renderGenerationPrompt,
} from "@/core/coaching-context";
import type { CoachingUser } from "@/core/user";

const NOW = Date.parse("2026-11-24T12:00:00Z");
const HOUR = 3_600_000;
const user: CoachingUser = {
  uid: "u1",
  email: "u1@example.com",
  displayName: "Ada",
  timezone: "Europe/London",
  coachingConfig: {
    enableCoachingMessages: true,
    frequency: "daily",
    timePreference: "afternoon",
    emailNotifications: true,
  },
};

const past = (index: number, fields: Partial<PastMessage>): PastMessage => ({
  messageType: "check_in",
  messageContent: `Message ${index}`,
  createdAt: NOW - index * 24 * HOUR,
  ...fields,
});

describe("what the user found helpful, in the context", () => {
  it("summarises the recent messages the user rated, per type, inside the user_data block", () => {
    const recentMessages = [
      past(1, { messageType: "challenge", feedbackHelpful: false }),
      past(2, { messageType: "check_in", feedbackHelpful: true, emailOpened: true }),
      past(3, { messageType: "check_in", feedbackHelpful: true }),
      past(4, { messageType: "reminder" }),
    ];
    const prompt = renderGenerationPrompt(
      buildCoachingContext({ user, now: NOW, entries: [], recentMessages }),
    );
    const summary = [
      '<user_feedback_summary rated="3" of_recent="4">',
      "challenge: helpful 0 of 1 rated",
      "check_in: helpful 2 of 2 rated",
      "</user_feedback_summary>",
    ].join("\n");
    expect(prompt).toContain(summary);
    expect(prompt.indexOf(summary)).toBeLessThan(prompt.indexOf("</user_data>"));
    expect(prompt).toContain(
      'type="check_in" sent="2026-11-22T12:00" user_feedback="helpful" email_opened="yes">',
    );
    expect(prompt).toContain('type="challenge" sent="2026-11-23T12:00" user_feedback="not helpful">');
    expect(prompt).toContain('type="reminder" sent="2026-11-20T12:00">');
  });

  it("adds nothing while the user has rated none of the recent messages", () => {
    expect(renderFeedbackSummary([past(1, {}), past(2, { emailOpened: true })])).toBeNull();
    const prompt = renderGenerationPrompt(
      buildCoachingContext({ user, now: NOW, entries: [], recentMessages: [past(1, {})] }),
    );
    expect(prompt).not.toContain("user_feedback");
  });

  it("stays bounded: one line per message type whatever the number of ratings", () => {
    const many = Array.from({ length: 200 }, (_, index) =>
      past(index, { messageType: index % 2 ? "challenge" : "check_in", feedbackHelpful: index % 3 === 0 }),
    );
    expect(renderFeedbackSummary(many)?.split("\n")).toHaveLength(4);
  });
});
