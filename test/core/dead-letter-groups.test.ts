import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type DeadLetterSummary,
  deadLetterGroupKey,
  errorSignature,
  groupDeadLetters,
  MAX_ERROR_SIGNATURE_LENGTH,
} from "@/core/dead-letter-groups";

/** Ids as the outbox and its providers write them: prefixed, UUIDs, Firestore auto-ids, hashes. */
const anId = fc.oneof(
  fc
    .tuple(fc.constantFrom("evt_", "msg_", "re_", "user-", "coaching.message.created_"), fc.nat())
    .map(([prefix, number]) => `${prefix}${number}`),
  fc.uuid(),
  fc.stringMatching(/^[A-Za-z]{3}[0-9][A-Za-z0-9]{16}$/),
  fc.stringMatching(/^[0-9a-f]{12,40}$/).filter((hex) => /[a-f]/.test(hex)),
);
/** Numbers that are not HTTP statuses: counts, durations, timestamps. */
const aNumber = fc.oneof(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 600, max: 2 ** 48 }));
const aQuotedValue = fc.string({ maxLength: 30 }).filter((text) => !/["\n]/.test(text));
const anEmail = fc.stringMatching(/^[a-z0-9._+-]{1,20}@[a-z0-9-]{1,10}(\.[a-z]{2,5}){1,2}$/);
const aStatus = fc.integer({ min: 100, max: 599 });
/** The words around the varying parts: letters and spaces only, so they cannot hold an id or a number. */
const words = fc.stringMatching(/^[A-Za-z]{1,10}( [A-Za-z]{1,10}){0,4}$/);

/** An error message template with one varying part of each kind. */
const template = fc.record({ before: words, middle: words, after: words, status: aStatus });
const render = (
  { before, middle, after, status }: { before: string; middle: string; after: string; status: number },
  parts: { id: string; number: number; quoted: string; email: string },
) =>
  `Resend ${status} ${before} for ${parts.id}: ${middle} after ${parts.number} ms, value "${parts.quoted}" to ${parts.email} ${after}`;
const parts = fc.record({ id: anId, number: aNumber, quoted: aQuotedValue, email: anEmail });

describe("errorSignature", () => {
  it.each([
    ["Resend 503 for evt_123", "Resend 503 for <id>"],
    ["Resend 503 for evt_456", "Resend 503 for <id>"],
    [
      "Resend 429 rate_limit_exceeded: Too many requests",
      "Resend 429 rate_limit_exceeded: Too many requests",
    ],
    [
      "retried for 23 h without success; last error: Resend did not answer within 10000 ms",
      "retried for <n> h without success; last error: Resend did not answer within <n> ms",
    ],
    [
      'invalid payload for user.coaching.enabled: uid: "abc" is not valid',
      "invalid payload for user.coaching.enabled: uid: <value> is not valid",
    ],
    ["could not email ada@example.com: couldn't resolve", "could not email <email>: couldn't resolve"],
    [
      "message 1f0c6f7e-8a4b-4c52-9d1e-3b2a1c0d9e8f not found   in   store",
      "message <id> not found in store",
    ],
  ])("%j → %j", (message, signature) => {
    expect(errorSignature(message)).toBe(signature);
  });

  it("keeps HTTP statuses apart: a 429 is not a 503", () => {
    fc.assert(
      fc.property(template, parts, aStatus, (shape, values, otherStatus) => {
        fc.pre(otherStatus !== shape.status);
        expect(errorSignature(render(shape, values))).not.toBe(
          errorSignature(render({ ...shape, status: otherStatus }, values)),
        );
      }),
    );
  });

  it("gives the same signature whatever the ids, numbers, quoted values and addresses", () => {
    fc.assert(
      fc.property(template, parts, parts, (shape, first, second) => {
        expect(errorSignature(render(shape, first))).toBe(errorSignature(render(shape, second)));
      }),
    );
  });

  /** Text dense in the characters the rules look at: quotes, separators, digits, '@', '<', '…'. */
  const tricky = fc
    .array(
      fc.oneof(
        fc.constantFrom(...[..." _-.:\"'`@<>…/aZ059\n\t"]),
        fc.constantFrom(
          "/503/",
          "evt_1",
          "a@b.cd",
          "'x'",
          "1f0c6f7e-8a4b-4c52-9d1e-3b2a1c0d9e8f",
          "abcdef123456",
        ),
        fc.string({ maxLength: 3 }),
      ),
      { maxLength: 300 },
    )
    .map((pieces) => pieces.join(""));

  it("is idempotent and bounded on text dense in quotes, separators and digits", () => {
    fc.assert(
      fc.property(tricky, (text) => {
        const signature = errorSignature(text);
        expect(signature.length).toBeLessThanOrEqual(MAX_ERROR_SIGNATURE_LENGTH);
        expect(errorSignature(signature)).toBe(signature);
      }),
      { numRuns: 3_000 },
    );
  });

  it("is idempotent and bounded on any text", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 600 }), fc.string({ unit: "grapheme", maxLength: 600 })),
        (text) => {
          const signature = errorSignature(text);
          expect(signature.length).toBeLessThanOrEqual(MAX_ERROR_SIGNATURE_LENGTH);
          expect(errorSignature(signature)).toBe(signature);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("keeps no digit of an id or a number, nor any address", () => {
    fc.assert(
      fc.property(template, parts, (shape, values) => {
        const signature = errorSignature(render(shape, values));
        expect(signature.replace(String(shape.status), "")).not.toMatch(/\d/);
        expect(signature).not.toContain(values.email);
      }),
    );
  });
});

const letter = fc.record({
  event_id: fc.uuid(),
  event_type: fc.constantFrom("coaching.message.created", "user.coaching.enabled"),
  error_message: fc.oneof(
    parts.map((values) => `Resend 503 for ${values.id}`),
    parts.map((values) => `timed out after ${values.number} ms`),
    fc.constant("unknown event type"),
  ),
  created_at: fc.integer({ min: 0, max: 2 ** 42 }),
});

describe("groupDeadLetters", () => {
  it("puts every letter in exactly one group of its type and signature, with its time span", () => {
    fc.assert(
      fc.property(fc.uniqueArray(letter, { selector: (item) => item.event_id, maxLength: 60 }), (letters) => {
        const groups = groupDeadLetters(letters);
        expect(groups.reduce((sum, group) => sum + group.count, 0)).toBe(letters.length);
        expect(groups.flatMap((group) => group.eventIds).sort()).toEqual(
          letters.map((item) => item.event_id).sort(),
        );
        const byId = new Map(letters.map((item) => [item.event_id, item]));
        for (const group of groups) {
          expect(group.eventIds).toHaveLength(group.count);
          const members = group.eventIds.map((id) => byId.get(id) as DeadLetterSummary);
          for (const member of members) {
            expect(member.event_type).toBe(group.eventType);
            expect(errorSignature(member.error_message)).toBe(group.errorSignature);
          }
          expect(group.firstSeenAt).toBe(Math.min(...members.map((member) => member.created_at)));
          expect(group.lastSeenAt).toBe(Math.max(...members.map((member) => member.created_at)));
        }
        expect(new Set(groups.map(deadLetterGroupKey)).size).toBe(groups.length);
        for (let index = 1; index < groups.length; index += 1)
          expect((groups[index - 1] as { count: number }).count).toBeGreaterThanOrEqual(
            (groups[index] as { count: number }).count,
          );
      }),
    );
  });

  it("makes one group of two Resend 503s for different events, apart from another type's", () => {
    const groups = groupDeadLetters([
      {
        event_id: "a",
        event_type: "coaching.message.created",
        error_message: "Resend 503 for evt_123",
        created_at: 10,
      },
      {
        event_id: "b",
        event_type: "coaching.message.created",
        error_message: "Resend 503 for evt_456",
        created_at: 30,
      },
      {
        event_id: "c",
        event_type: "user.coaching.enabled",
        error_message: "Resend 503 for evt_789",
        created_at: 20,
      },
    ]);
    expect(groups).toEqual([
      {
        eventType: "coaching.message.created",
        errorSignature: "Resend 503 for <id>",
        count: 2,
        firstSeenAt: 10,
        lastSeenAt: 30,
        exampleError: "Resend 503 for evt_456",
        eventIds: ["a", "b"],
      },
      {
        eventType: "user.coaching.enabled",
        errorSignature: "Resend 503 for <id>",
        count: 1,
        firstSeenAt: 20,
        lastSeenAt: 20,
        exampleError: "Resend 503 for evt_789",
        eventIds: ["c"],
      },
    ]);
  });
});
