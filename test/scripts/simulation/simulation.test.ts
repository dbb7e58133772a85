import { describe, expect, it } from "vitest";
import { simulateWeeks } from "../../../scripts/simulation/simulate-weeks";

describe("the real scheduler and processor over days of virtual time", () => {
  it.each([
    ["no failures", 0],
    ["a fifth of LLM calls failing", 0.2],
  ])(
    "with %s: no user loses their schedule, no slot gets two messages, every send is inside the window",
    async (_case, failureRate) => {
      const result = await simulateWeeks({ users: 240, days: 4, failureRate, seed: 11 });
      expect(result.messagesSent).toBeGreaterThan(240);
      expect(result.usersWhoLostTheirSchedule).toBe(0);
      expect(result.duplicateMessagesPerSlot).toBe(0);
      expect(result.maxMessagesPerUserPerLocalDay).toBe(1);
      expect(result.sendsOutsideTheWindow).toBe(0);
      if (failureRate === 0) {
        // Without failures every send after bootstrap lands on the target hour; bootstrap sends are random in the window.
        expect(result.sendsAtTargetHourShare).toBeGreaterThan(0.6);
      }
    },
  );
});
