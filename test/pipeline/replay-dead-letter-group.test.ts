import { describe, expect, it } from "vitest";
import type { DeadLetterSummary } from "@/core/dead-letter-groups";
import {
  DEAD_LETTER_GROUP_WINDOW,
  type DeadLetterGroupPorts,
  replayDeadLetterGroup,
} from "@/pipeline/replay-dead-letter-group";

/** Dead letters in a map, newest first on listing; requeue removes the letter as the outbox's does. */
function portsOver(letters: DeadLetterSummary[], { eventsGone = new Set<string>() } = {}) {
  const stored = new Map(letters.map((letter) => [letter.event_id, letter]));
  const requeued: string[] = [];
  const listed: number[] = [];
  const ports: DeadLetterGroupPorts = {
    async recentDeadLetters(limit) {
      listed.push(limit);
      return [...stored.values()].sort((left, right) => right.created_at - left.created_at).slice(0, limit);
    },
    async requeue({ eventId }) {
      const existed = stored.delete(eventId);
      if (!existed || eventsGone.has(eventId)) return false;
      requeued.push(eventId);
      return true;
    },
  };
  return { ports, stored, requeued, listed };
}

const resend503 = (id: string, at: number): DeadLetterSummary => ({
  event_id: id,
  event_type: "coaching.message.created",
  error_message: `Resend 503 for evt_${at}`,
  created_at: at,
});
const group = { eventType: "coaching.message.created", errorSignature: "Resend 503 for <id>" };

describe("replayDeadLetterGroup", () => {
  it("requeues every letter of the group, and only those, when the count is the one confirmed", async () => {
    const other = { ...resend503("other", 5), error_message: "Resend 429 for evt_5" };
    const world = portsOver([resend503("a", 1), resend503("b", 2), resend503("c", 3), other]);
    const result = await replayDeadLetterGroup({ ports: world.ports, group, expectedCount: 3, now: 10 });
    expect(result).toEqual({ ok: true, requeued: ["c", "b", "a"], missing: 0 });
    expect([...world.stored.keys()]).toEqual(["other"]);
    expect(world.listed).toEqual([DEAD_LETTER_GROUP_WINDOW]);
  });

  it.each([
    ["grew", 2],
    ["shrank", 4],
  ])(
    "refuses, requeuing nothing, when the group %s since the page showed it",
    async (_how, expectedCount) => {
      const world = portsOver([resend503("a", 1), resend503("b", 2), resend503("c", 3)]);
      const result = await replayDeadLetterGroup({ ports: world.ports, group, expectedCount, now: 10 });
      expect(result).toEqual({ ok: false, reason: "count_changed", count: 3 });
      expect(world.requeued).toEqual([]);
      expect(world.stored.size).toBe(3);
    },
  );

  it("refuses a group that no longer exists (another admin replayed it)", async () => {
    const world = portsOver([resend503("a", 1)]);
    await replayDeadLetterGroup({ ports: world.ports, group, expectedCount: 1, now: 10 });
    const again = await replayDeadLetterGroup({ ports: world.ports, group, expectedCount: 1, now: 11 });
    expect(again).toEqual({ ok: false, reason: "count_changed", count: 0 });
    expect(world.requeued).toEqual(["a"]);
  });

  it("counts letters whose event is gone as missing, not requeued", async () => {
    const world = portsOver([resend503("a", 1), resend503("b", 2)], { eventsGone: new Set(["a"]) });
    const result = await replayDeadLetterGroup({ ports: world.ports, group, expectedCount: 2, now: 10 });
    expect(result).toEqual({ ok: true, requeued: ["b"], missing: 1 });
  });
});
