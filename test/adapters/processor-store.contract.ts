/**
 * The slot and message behaviour every ProcessorStore must show, run against Firestore (on the
 * emulator) and the in-memory twin alike, so the simulator's verdict on the processor carries
 * over to Firestore. Journal reads and insights are covered where they are used.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { SlotRecord } from "@/core/due-slot";
import { EVENT_TYPES, type EventRecord, messageCreatedEventId, newEvent } from "@/core/events";
import type { ProcessorStore, StoredMessage } from "@/pipeline/processor-store-ports";
import { newProcess, wrapPort } from "../../scripts/simulation/chaos/faults";

export interface ProcessorStoreHarness {
  /** A fresh, empty store for one test. */
  create(): Promise<ProcessorStore>;
  /** A `coachingSlotLeases` document as written directly (an older version's lease). */
  putLease(leaseId: string, lease: Record<string, unknown>): Promise<void>;
  putEvent(event: EventRecord): Promise<void>;
  readEvent(eventId: string): Promise<Record<string, unknown> | undefined>;
  /** `users/{uid}/journalEntries/{entryId}` as stored, without its id. */
  readJournalEntry(uid: string, entryId: string): Promise<Record<string, unknown> | undefined>;
  /** A `users` document as the journaling app writes it. */
  putUser(uid: string, document: Record<string, unknown>): Promise<void>;
  /** A `users` document as stored; undefined when there is none. */
  readUser(uid: string): Promise<Record<string, unknown> | undefined>;
}

const NOW = 1_800_000_000_000;

function slotRecord(fields: Partial<SlotRecord> = {}): SlotRecord {
  return {
    slotId: "u1_100",
    uid: "u1",
    dueAt: 100,
    forced: false,
    status: "running",
    leaseNumber: 1,
    leaseUntil: NOW + 60_000,
    outcome: null,
    messageId: null,
    nextCoachingMessageDue: null,
    failureReason: null,
    createdAt: NOW,
    updatedAt: NOW,
    ...fields,
  };
}

function approvedMessage(slotId: string, fields: Partial<StoredMessage> = {}): StoredMessage {
  return {
    id: slotId,
    uid: "u1",
    slotId,
    createdAt: NOW,
    updatedAt: NOW,
    status: "approved",
    messageContent: "A message long enough to be sent to the user.",
    messageType: "check_in",
    pushNotificationText: "A note",
    originalMessageContent: null,
    effectivenessRating: 8,
    recommendedAction: "SEND_MESSAGE",
    outcomeReasoning: null,
    wasSent: false,
    sentAt: null,
    journalEntryId: null,
    contextUsed: null,
    generationAttempt: 1,
    failureReason: null,
    userTimezone: "UTC",
    userTimePreference: "morning",
    scheduledFor: 100,
    promptVersion: "v1+v1",
    model: { generation: "test/coach", scoring: "test/scorer" },
    llmCalls: [],
    tokenUsage: { inputTokens: 0, outputTokens: 0, totalTokens: 0, cost: null },
    delivery: {
      email: { status: "pending", providerId: null, error: null, attemptedAt: null },
      push: { status: "pending", text: null },
    },
    ...fields,
  };
}

function deliveryEvent(slotId: string, now = NOW): EventRecord {
  return newEvent({
    id: messageCreatedEventId(slotId),
    eventType: EVENT_TYPES.coachingMessageCreated,
    aggregateId: slotId,
    aggregateType: "coachingMessage",
    payload: { messageId: slotId, uid: "u1", slotId },
    createdBy: "processor",
    now,
  });
}

function journalEntry(slotId: string) {
  return {
    entryId: `coaching_${slotId}`,
    entry: {
      title: "Coaching · Check-in",
      content: "### Check-in\n\nA message long enough to be sent to the user.",
      createdAt: NOW,
      isCoachingMessage: true as const,
      source: "coaching-engine" as const,
      format: "markdown" as const,
      coachingMessageId: slotId,
      messageType: "check_in" as const,
      pushNotificationText: "A note",
    },
  };
}

/** The claim tokens of two runs: each writes its own into every lease it creates. */
const RUN = "run-a";
const RIVAL = "run-b";

const SENT = { status: "sent", wasSent: true, sentAt: NOW, updatedAt: NOW } as const;

/** Slot `u1_100` as the batch that stores its sent message completes it. */
const COMPLETED_SENT = slotRecord({
  status: "completed",
  outcome: "sent",
  messageId: "u1_100",
  nextCoachingMessageDue: NOW + 86_400_000,
  leaseUntil: NOW,
  updatedAt: NOW,
});

/** The store with `method` applying its call and then failing, as a write that timed out after committing. */
function appliedThenFailing(store: ProcessorStore, method: keyof ProcessorStore): ProcessorStore {
  return wrapPort(store, {
    name: "processorStore",
    process: newProcess("contract"),
    decide: (call) => (call.method === method ? "applied_then_fail" : null),
  });
}

export function describeProcessorStoreContract(name: string, harness: ProcessorStoreHarness): void {
  describe(`${name} processor store contract`, () => {
    let store: ProcessorStore;
    beforeEach(async () => {
      store = await harness.create();
    });

    it("claims a new slot's first lease with the slot's own create(): no lease document; a second claim writes nothing", async () => {
      expect(await store.claimSlot({ slot: slotRecord(), purpose: "claim", now: NOW, claimToken: RUN })).toBe(
        "claimed",
      );
      expect(await store.getSlot("u1_100")).toEqual({ ...slotRecord(), claimToken: RUN });
      expect(await store.getLease({ slotId: "u1_100", leaseNumber: 1 })).toBeNull();
      const rival = slotRecord({ forced: true, createdAt: NOW + 1 });
      expect(await store.claimSlot({ slot: rival, purpose: "claim", now: NOW + 1, claimToken: RIVAL })).toBe(
        "taken",
      );
      expect(await store.getSlot("u1_100")).toEqual({ ...slotRecord(), claimToken: RUN });
    });

    it("claims a later lease by creating its lease document and writing the slot together", async () => {
      await store.claimSlot({ slot: slotRecord(), purpose: "claim", now: NOW, claimToken: RUN });
      const takeover = slotRecord({ leaseNumber: 2, leaseUntil: NOW + 120_000 });
      expect(
        await store.claimSlot({ slot: takeover, purpose: "claim", now: NOW + 61_000, claimToken: RIVAL }),
      ).toBe("claimed");
      expect(await store.getLease({ slotId: "u1_100", leaseNumber: 2 })).toEqual({
        claimedAt: NOW + 61_000,
        leaseUntil: NOW + 120_000,
        claimToken: RIVAL,
      });
      expect(await store.getSlot("u1_100")).toEqual({ ...takeover, claimToken: RIVAL });
    });

    it("fences a completion: once lease n + 1 was taken, the holder of lease n cannot write the slot", async () => {
      await store.claimSlot({ slot: slotRecord(), purpose: "claim", now: NOW, claimToken: RUN });
      const takeover = slotRecord({ leaseNumber: 2, leaseUntil: NOW + 120_000 });
      expect(
        await store.claimSlot({ slot: takeover, purpose: "claim", now: NOW + 61_000, claimToken: RIVAL }),
      ).toBe("claimed");
      const staleCompletion = slotRecord({
        leaseNumber: 2,
        status: "completed",
        outcome: "generation_failed",
      });
      expect(
        await store.claimSlot({
          slot: staleCompletion,
          purpose: "complete",
          now: NOW + 62_000,
          claimToken: RUN,
        }),
      ).toBe("taken");
      expect(await store.getSlot("u1_100")).toEqual({ ...takeover, claimToken: RIVAL });
    });

    it("recognises as ours a claim whose create() applied but reported ALREADY_EXISTS (the SDK retried the commit)", async () => {
      expect(await store.claimSlot({ slot: slotRecord(), purpose: "claim", now: NOW, claimToken: RUN })).toBe(
        "claimed",
      );
      // The retried commit of the same batch: the lease is there, with this run's token.
      expect(await store.claimSlot({ slot: slotRecord(), purpose: "claim", now: NOW, claimToken: RUN })).toBe(
        "claimed",
      );
      expect(await store.getSlot("u1_100")).toEqual({ ...slotRecord(), claimToken: RUN });
      expect(
        await store.claimSlot({ slot: slotRecord(), purpose: "claim", now: NOW, claimToken: RIVAL }),
      ).toBe("taken");
    });

    it("recognises as ours a completion whose create() applied but reported ALREADY_EXISTS, and fences everyone else", async () => {
      await store.claimSlot({ slot: slotRecord(), purpose: "claim", now: NOW, claimToken: RUN });
      const completed = slotRecord({
        leaseNumber: 2,
        leaseUntil: NOW + 5,
        status: "completed",
        outcome: "sent",
        updatedAt: NOW + 5,
      });
      for (const attempt of [1, 2]) {
        expect(
          await store.claimSlot({ slot: completed, purpose: "complete", now: NOW + 5, claimToken: RUN }),
          `attempt ${attempt}`,
        ).toBe("claimed");
      }
      const rivalRelease = slotRecord({ leaseNumber: 2, leaseUntil: NOW + 6 });
      expect(
        await store.claimSlot({ slot: rivalRelease, purpose: "release", now: NOW + 6, claimToken: RIVAL }),
      ).toBe("taken");
      expect(await store.getSlot("u1_100")).toMatchObject({ status: "completed", outcome: "sent" });
    });

    it("answers taken for a lease an older version wrote without a token", async () => {
      await store.claimSlot({ slot: slotRecord(), purpose: "claim", now: NOW, claimToken: RUN });
      await harness.putLease("u1_100_2", { slotId: "u1_100", leaseNumber: 2, uid: "u1", claimedAt: NOW });
      const takeover = slotRecord({ leaseNumber: 2, leaseUntil: NOW + 120_000 });
      expect(
        await store.claimSlot({ slot: takeover, purpose: "claim", now: NOW + 61_000, claimToken: RIVAL }),
      ).toBe("taken");
    });

    it("reads back a lease written without leaseUntil (an older claim), and none for a missing one", async () => {
      await harness.putLease("u1_100_1", { slotId: "u1_100", leaseNumber: 1, uid: "u1", claimedAt: NOW });
      expect(await store.getLease({ slotId: "u1_100", leaseNumber: 1 })).toEqual({ claimedAt: NOW });
      expect(await store.getLease({ slotId: "u1_100", leaseNumber: 2 })).toBeNull();
      expect(await store.getSlot("u1_100")).toBeNull();
    });

    it("lists a user's running slots, oldest due first, bounded by limit", async () => {
      for (const [dueAt, status, uid] of [
        [300, "running", "u1"],
        [100, "running", "u1"],
        [200, "completed", "u1"],
        [50, "running", "u2"],
        [400, "running", "u1"],
      ] as const) {
        await store.claimSlot({
          slot: slotRecord({ slotId: `${uid}_${dueAt}`, uid, dueAt, status }),
          purpose: "claim",
          now: NOW,
          claimToken: RUN,
        });
      }
      const open = await store.listOpenSlots({ uid: "u1", limit: 2 });
      expect(open.map((slot) => slot.slotId)).toEqual(["u1_100", "u1_300"]);
    });

    it("creates a slot's approved message once; the first stands", async () => {
      expect(await store.createMessage(approvedMessage("u1_100"))).toBe("created");
      expect(await store.createMessage(approvedMessage("u1_100", { messageContent: "another" }))).toBe(
        "exists",
      );
      expect((await store.getMessage("u1_100"))?.messageContent).toBe(
        approvedMessage("u1_100").messageContent,
      );
      expect(await harness.readEvent(messageCreatedEventId("u1_100"))).toBeUndefined();
    });

    it("marks a message sent together with its delivery event, and twice is harmless", async () => {
      await store.createMessage(approvedMessage("u1_100"));
      const event = deliveryEvent("u1_100");
      expect(await store.markMessageSent({ messageId: "u1_100", patch: SENT, deliveryEvent: event })).toBe(
        "created",
      );
      expect(await store.getMessage("u1_100")).toMatchObject({ status: "sent", wasSent: true });
      expect(await harness.readEvent(event.id)).toMatchObject({ status: "pending", created_at: NOW });
      const again = deliveryEvent("u1_100", NOW + 5);
      expect(await store.markMessageSent({ messageId: "u1_100", patch: SENT, deliveryEvent: again })).toBe(
        "event_existed",
      );
      expect(await harness.readEvent(event.id)).toMatchObject({ created_at: NOW });
      expect(await store.ensureDeliveryEvent(again)).toBe("exists");
    });

    it("marks a message sent even when an older version's event already stands, leaving that event as it is", async () => {
      await store.createMessage(approvedMessage("u1_100"));
      await harness.putEvent({ ...deliveryEvent("u1_100", NOW - 10), attempts: 3 });
      expect(
        await store.markMessageSent({
          messageId: "u1_100",
          patch: SENT,
          deliveryEvent: deliveryEvent("u1_100"),
        }),
      ).toBe("event_existed");
      expect(await store.getMessage("u1_100")).toMatchObject({ status: "sent" });
      expect(await harness.readEvent(messageCreatedEventId("u1_100"))).toMatchObject({ attempts: 3 });
    });

    it("keeps a claim that was applied but reported failed: the slot shows the lease, and the lease is taken", async () => {
      await expect(
        appliedThenFailing(store, "claimSlot").claimSlot({
          slot: slotRecord(),
          purpose: "claim",
          now: NOW,
          claimToken: RUN,
        }),
      ).rejects.toThrow(/applied/);
      expect(await store.getSlot("u1_100")).toEqual({ ...slotRecord(), claimToken: RUN });
      expect(
        await store.claimSlot({ slot: slotRecord(), purpose: "claim", now: NOW + 1, claimToken: RIVAL }),
      ).toBe("taken");
    });

    it("keeps a move to sent that was applied but reported failed: a retry finds the event and the message sent", async () => {
      await store.createMessage(approvedMessage("u1_100"));
      const event = deliveryEvent("u1_100");
      await expect(
        appliedThenFailing(store, "markMessageSent").markMessageSent({
          messageId: "u1_100",
          patch: SENT,
          deliveryEvent: event,
        }),
      ).rejects.toThrow(/applied/);
      expect(await store.getMessage("u1_100")).toMatchObject({ status: "sent" });
      expect(await store.markMessageSent({ messageId: "u1_100", patch: SENT, deliveryEvent: event })).toBe(
        "event_existed",
      );
    });

    it("lists sent messages newest first by creation, whatever order they were sent in", async () => {
      for (const [slotId, createdAt] of [
        ["u1_300", NOW + 300],
        ["u1_100", NOW + 100],
        ["u1_200", NOW + 200],
      ] as const) {
        await store.createMessage(approvedMessage(slotId, { createdAt }));
        await store.markMessageSent({ messageId: slotId, patch: SENT, deliveryEvent: deliveryEvent(slotId) });
      }
      await store.createMessage(approvedMessage("u1_400", { createdAt: NOW + 400 }));
      const recent = await store.listRecentMessages({ uid: "u1", limit: 2 });
      expect(recent.map((past) => past.createdAt)).toEqual([NOW + 300, NOW + 200]);
    });

    it("lists running slots whose lease expired before a time, of every user, oldest lease first", async () => {
      await store.claimSlot({
        slot: slotRecord({ leaseUntil: NOW + 10 }),
        purpose: "claim",
        now: NOW,
        claimToken: RUN,
      });
      await store.claimSlot({
        slot: slotRecord({ slotId: "u2_100", uid: "u2", leaseUntil: NOW + 5 }),
        purpose: "claim",
        now: NOW,
        claimToken: RUN,
      });
      await store.claimSlot({
        slot: slotRecord({ slotId: "u3_100", uid: "u3", leaseUntil: NOW + 50 }),
        purpose: "claim",
        now: NOW,
        claimToken: RUN,
      });
      await store.storeSentMessage({
        message: approvedMessage("u3_100", { ...SENT, uid: "u3", journalEntryId: "coaching_u3_100" }),
        journalEntry: journalEntry("u3_100"),
        deliveryEvent: deliveryEvent("u3_100"),
        completedSlot: slotRecord({
          slotId: "u3_100",
          uid: "u3",
          status: "completed",
          outcome: "sent",
          leaseUntil: NOW,
        }),
        claimToken: RUN,
      });
      const stale = await store.listStaleRunningSlots({ leaseExpiredBefore: NOW + 100, limit: 10 });
      expect(stale.map((slot) => slot.slotId)).toEqual(["u2_100", "u1_100"]);
      expect(await store.listStaleRunningSlots({ leaseExpiredBefore: NOW + 6, limit: 10 })).toHaveLength(1);
    });

    it("stores a sent message with its journal entry and delivery event at once; a second time writes nothing", async () => {
      const sent = approvedMessage("u1_100", { ...SENT, journalEntryId: "coaching_u1_100" });
      const entry = journalEntry("u1_100");
      const event = deliveryEvent("u1_100");
      expect(
        await store.storeSentMessage({
          message: sent,
          journalEntry: entry,
          deliveryEvent: event,
          completedSlot: COMPLETED_SENT,
          claimToken: RUN,
        }),
      ).toBe("created");
      expect(await store.getMessage("u1_100")).toEqual(sent);
      expect(await harness.readJournalEntry("u1", "coaching_u1_100")).toEqual(entry.entry);
      expect(await harness.readEvent(event.id)).toMatchObject({ status: "pending", created_at: NOW });
      expect(
        (await store.listRecentMessages({ uid: "u1", limit: 10 })).map((past) => past.createdAt),
      ).toEqual([NOW]);

      const rival = approvedMessage("u1_100", {
        ...SENT,
        messageContent: "A rival run's message, stored later.",
      });
      const later = deliveryEvent("u1_100", NOW + 5);
      expect(
        await store.storeSentMessage({
          message: rival,
          journalEntry: { ...entry, entry: { ...entry.entry, content: "another" } },
          deliveryEvent: later,
          completedSlot: { ...COMPLETED_SENT, updatedAt: NOW + 5 },
          claimToken: RIVAL,
        }),
      ).toBe("exists");
      expect(await store.getMessage("u1_100")).toEqual(sent);
      expect(await harness.readJournalEntry("u1", "coaching_u1_100")).toEqual(entry.entry);
      expect(await harness.readEvent(event.id)).toMatchObject({ created_at: NOW });
    });

    it("completes the slot in the sent message's batch, without a lease document; a rival's later batch changes nothing", async () => {
      await store.claimSlot({ slot: slotRecord(), purpose: "claim", now: NOW, claimToken: RUN });
      const sent = approvedMessage("u1_100", { ...SENT, journalEntryId: "coaching_u1_100" });
      const input = {
        message: sent,
        journalEntry: journalEntry("u1_100"),
        deliveryEvent: deliveryEvent("u1_100"),
      };
      expect(await store.storeSentMessage({ ...input, completedSlot: COMPLETED_SENT, claimToken: RUN })).toBe(
        "created",
      );
      expect(await store.getSlot("u1_100")).toEqual({ ...COMPLETED_SENT, claimToken: RUN });
      expect(await store.getLease({ slotId: "u1_100", leaseNumber: 2 })).toBeNull();
      expect(await store.listOpenSlots({ uid: "u1", limit: 3 })).toEqual([]);
      expect(
        await store.storeSentMessage({
          ...input,
          completedSlot: { ...COMPLETED_SENT, nextCoachingMessageDue: 999 },
          claimToken: RIVAL,
        }),
      ).toBe("exists");
      expect(await store.getSlot("u1_100")).toEqual({ ...COMPLETED_SENT, claimToken: RUN });
    });

    it("writes nothing of a sent message when the slot's approved message stands (an older version's)", async () => {
      await store.createMessage(approvedMessage("u1_100"));
      const sent = approvedMessage("u1_100", { ...SENT, journalEntryId: "coaching_u1_100" });
      expect(
        await store.storeSentMessage({
          message: sent,
          journalEntry: journalEntry("u1_100"),
          deliveryEvent: deliveryEvent("u1_100"),
          completedSlot: COMPLETED_SENT,
          claimToken: RUN,
        }),
      ).toBe("exists");
      expect(await store.getMessage("u1_100")).toMatchObject({ status: "approved", journalEntryId: null });
      expect(await harness.readJournalEntry("u1", "coaching_u1_100")).toBeUndefined();
      expect(await harness.readEvent(messageCreatedEventId("u1_100"))).toBeUndefined();
    });

    it("keeps a sent message whose batch applied but reported failure: a retry finds it, and nothing is written twice", async () => {
      const sent = approvedMessage("u1_100", { ...SENT, journalEntryId: "coaching_u1_100" });
      await store.claimSlot({ slot: slotRecord(), purpose: "claim", now: NOW, claimToken: RUN });
      const input = {
        message: sent,
        journalEntry: journalEntry("u1_100"),
        deliveryEvent: deliveryEvent("u1_100"),
        completedSlot: COMPLETED_SENT,
        claimToken: RUN,
      };
      await expect(appliedThenFailing(store, "storeSentMessage").storeSentMessage(input)).rejects.toThrow(
        /applied/,
      );
      expect(await store.storeSentMessage(input)).toBe("exists");
      expect(await store.getMessage("u1_100")).toEqual(sent);
      // The slot's completion applied with it, and names this run, which is how the run knows it.
      expect(await store.getSlot("u1_100")).toEqual({ ...COMPLETED_SENT, claimToken: RUN });
      expect(await harness.readEvent(messageCreatedEventId("u1_100"))).toMatchObject({ status: "pending" });
    });

    it("creates a missing delivery event for a message already sent", async () => {
      await store.createMessage(approvedMessage("u1_100", { status: "sent", wasSent: true }));
      expect(await store.ensureDeliveryEvent(deliveryEvent("u1_100"))).toBe("created");
      expect(await harness.readEvent(messageCreatedEventId("u1_100"))).toMatchObject({ status: "pending" });
    });

    it("sets the enable flag's mirror alone, and does not bring back a deleted user", async () => {
      const user = {
        email: "u1@example.com",
        nextCoachingMessageDue: NOW,
        coachingDueRank: "r",
        coachingEnabled: false,
      };
      await harness.putUser("u1", user);
      await store.markCoachingEnabled("u1");
      await store.markCoachingEnabled("gone");
      expect(await harness.readUser("u1")).toEqual({ ...user, coachingEnabled: true });
      expect(await harness.readUser("gone")).toBeUndefined();
    });
  });
}
