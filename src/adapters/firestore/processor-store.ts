import "server-only";
import { type DocumentData, type Firestore, Timestamp } from "firebase-admin/firestore";
import type { PastMessage } from "@/core/coaching-context";
import { MESSAGE_TYPES } from "@/core/coaching-message";
import { dueRank } from "@/core/due-rank";
import { leaseId, type SlotRecord } from "@/core/due-slot";
import { parseStoredInsights } from "@/core/processing-state";
import { retentionExpiry, TTL_FIELD, ttlRetentionRule } from "@/core/retention";
import { parseUserDocument } from "@/core/user";
import type { ProcessorStore, StoredMessage } from "@/pipeline/processor-store-ports";
import { COACHING_ENABLED_FIELD, COLLECTIONS, DUE_FIELD, RANK_FIELD } from "./collections";
import { createOnce, isNotFound } from "./create-once";
import { firestoreCall } from "./errors";
import { readOwnEntriesAfter, readOwnEntriesNewestFirst } from "./journal-reads";
import { commitBatch } from "./traced-commit";

const messageTypes: ReadonlySet<string> = new Set(MESSAGE_TYPES);

// The TTL field (core/retention.ts) goes on every lease, and on a slot or an attempt only once it
// may go: a completed slot, a rejected or failed attempt. Never on a running slot or the approved
// (later sent) message.
const LEASE_RETENTION = ttlRetentionRule("slotLeases");
const COMPLETED_SLOT_RETENTION = ttlRetentionRule("completedSlots");
const UNSENT_ATTEMPT_RETENTION = ttlRetentionRule("unsentAttempts");

const expiry = (rule: Parameters<typeof retentionExpiry>[0], from: number) => ({
  [TTL_FIELD]: Timestamp.fromMillis(retentionExpiry(rule, from)),
});

/** A stored document without the TTL field: storage for the TTL policy, not part of the record. */
function withoutTtl<Stored>(data: DocumentData | undefined): Stored {
  const { [TTL_FIELD]: _expireAt, ...record } = data ?? {};
  return record as Stored;
}

/** A stored sent message as the context's recent message; null when it lacks what that needs. */
function pastMessageOf(data: DocumentData): PastMessage | null {
  const message = data as Partial<StoredMessage>;
  if (!message.messageType || !messageTypes.has(message.messageType)) return null;
  if (typeof message.messageContent !== "string" || typeof message.createdAt !== "number") return null;
  return {
    messageType: message.messageType,
    messageContent: message.messageContent,
    createdAt: message.createdAt,
    // What the user did with it, for the context's feedback summary.
    ...(typeof message.feedbackHelpful === "boolean" ? { feedbackHelpful: message.feedbackHelpful } : {}),
    ...(message.emailOpened === true ? { emailOpened: true } : {}),
  };
}

export function createFirestoreProcessorStore(db: Firestore): ProcessorStore {
  const users = db.collection(COLLECTIONS.users);
  const slots = db.collection(COLLECTIONS.coachingSlots);
  const leases = db.collection(COLLECTIONS.coachingSlotLeases);
  const messages = db.collection(COLLECTIONS.coachingMessages);
  const events = db.collection(COLLECTIONS.events);
  const states = db.collection(COLLECTIONS.userProcessingState);

  return {
    getUser: (uid) =>
      firestoreCall("read user", async () => {
        const snapshot = await users.doc(uid).get();
        return snapshot.exists ? parseUserDocument(uid, snapshot.data()) : null;
      }),

    getSlot: (slotId) =>
      firestoreCall("read slot", async () => {
        const snapshot = await slots.doc(slotId).get();
        return snapshot.exists ? withoutTtl<SlotRecord>(snapshot.data()) : null;
      }),

    async claimSlot({ slot, purpose, now, claimToken }) {
      const { slotId, leaseNumber, uid, leaseUntil } = slot;
      if (purpose === "claim" && leaseNumber === 1) {
        // A new slot's first lease is the slot's own create(): one document, and nothing under it
        // to fence yet. Later leases (takeovers, completions, releases) create lease documents.
        const created = await createOnce("claim slot", () =>
          slots.doc(slotId).create({ ...slot, claimToken }),
        );
        if (created === "created") return "claimed";
        const existing = await firestoreCall("read claimed slot", () => slots.doc(slotId).get());
        return existing.get("claimToken") === claimToken && existing.get("leaseNumber") === 1
          ? "claimed"
          : "taken";
      }
      const lease = leases.doc(leaseId({ slotId, leaseNumber }));
      const outcome = await createOnce(`${purpose} slot`, async () => {
        // create() of the lease first: on a conflict the batch writes nothing (the local emulator
        // applies a batch's writes up to the failing one; real Firestore commits all or none).
        const batch = db.batch();
        batch.create(lease, {
          slotId,
          leaseNumber,
          uid,
          purpose,
          claimToken,
          claimedAt: now,
          leaseUntil,
          ...expiry(LEASE_RETENTION, now),
        });
        batch.set(
          slots.doc(slotId),
          slot.status === "completed"
            ? { ...slot, claimToken, ...expiry(COMPLETED_SLOT_RETENTION, now) }
            : { ...slot, claimToken },
        );
        await commitBatch(batch, `${purpose} slot`);
      });
      if (outcome === "created") return "claimed";
      // The SDK retries a commit whose answer was lost (ABORTED, UNAVAILABLE): when the first try
      // applied, the retry meets our own lease. Atomic batch, create first: our lease means our slot write.
      const existing = await firestoreCall(`read ${purpose} slot lease`, () => lease.get());
      return existing.get("claimToken") === claimToken ? "claimed" : "taken";
    },

    getLease: ({ slotId, leaseNumber }) =>
      firestoreCall("read slot lease", async () => {
        const snapshot = await leases.doc(leaseId({ slotId, leaseNumber })).get();
        if (!snapshot.exists) return null;
        const lease = snapshot.data() as { claimedAt?: unknown; leaseUntil?: unknown; claimToken?: unknown };
        return {
          claimedAt: typeof lease.claimedAt === "number" ? lease.claimedAt : 0,
          ...(typeof lease.leaseUntil === "number" ? { leaseUntil: lease.leaseUntil } : {}),
          ...(typeof lease.claimToken === "string" ? { claimToken: lease.claimToken } : {}),
        };
      }),

    listOpenSlots: ({ uid, limit }) =>
      firestoreCall("read open slots", async () => {
        const snapshot = await slots
          .where("uid", "==", uid)
          .where("status", "==", "running")
          .orderBy("dueAt")
          .limit(limit)
          .get();
        return snapshot.docs.map((document) => withoutTtl<SlotRecord>(document.data()));
      }),

    listJournalEntries: ({ uid, limit }) =>
      firestoreCall("read journal", () =>
        readOwnEntriesNewestFirst(users.doc(uid).collection(COLLECTIONS.journalEntries), limit),
      ),

    listRecentMessages: ({ uid, limit }) =>
      firestoreCall("read recent messages", async () => {
        const snapshot = await messages
          .where("uid", "==", uid)
          .where("wasSent", "==", true)
          .orderBy("createdAt", "desc")
          .limit(limit)
          .get();
        return snapshot.docs.flatMap((document) => pastMessageOf(document.data()) ?? []);
      }),

    listStaleRunningSlots: ({ leaseExpiredBefore, limit }) =>
      firestoreCall("read stale running slots", async () => {
        const snapshot = await slots
          .where("status", "==", "running")
          .where("leaseUntil", "<", leaseExpiredBefore)
          .orderBy("leaseUntil")
          .limit(limit)
          .get();
        return snapshot.docs.map((document) => withoutTtl<SlotRecord>(document.data()));
      }),

    getInsights: (uid) =>
      firestoreCall("read insights", async () => {
        // Kept on the processing state (read there by a run, with the state); a state without
        // them is from before they moved there: the old `userInsights` document is read instead.
        const state = await states.doc(uid).get();
        if (state.get("insights") !== undefined) return parseStoredInsights(uid, state.get("insights"));
        const legacy = await db.collection(COLLECTIONS.userInsights).doc(uid).get();
        // An insights document written by another tool may hold only a summary.
        return legacy.exists ? parseStoredInsights(uid, legacy.data()) : null;
      }),

    saveInsights: (insights) =>
      firestoreCall("save insights", async () => {
        await states
          .doc(insights.uid)
          .set({ uid: insights.uid, insights, updatedAt: insights.updatedAt }, { merge: true });
      }),

    listEntriesAfter: ({ uid, after, limit }) =>
      firestoreCall("read new journal entries", () =>
        readOwnEntriesAfter(users.doc(uid).collection(COLLECTIONS.journalEntries), after, limit),
      ),

    getMessage: (messageId) =>
      firestoreCall("read message", async () => {
        const snapshot = await messages.doc(messageId).get();
        return snapshot.exists ? withoutTtl<StoredMessage>(snapshot.data()) : null;
      }),

    saveMessage: (message) =>
      firestoreCall("store attempt", async () => {
        const unsent = message.status === "rejected" || message.status === "failed";
        await messages
          .doc(message.id)
          .set(unsent ? { ...message, ...expiry(UNSENT_ATTEMPT_RETENTION, message.createdAt) } : message);
      }),

    createMessage: (message) => createOnce("store message", () => messages.doc(message.id).create(message)),

    updateMessage: (messageId, patch) =>
      firestoreCall("update message", async () => {
        await messages.doc(messageId).update(patch);
      }),

    async markMessageSent({ messageId, patch, deliveryEvent }) {
      const outcome = await createOnce("mark message sent", async () => {
        // create() of the event first, so a conflict writes nothing and is handled below.
        const batch = db.batch();
        batch.create(events.doc(deliveryEvent.id), deliveryEvent);
        batch.update(messages.doc(messageId), patch);
        await commitBatch(batch, "mark message sent");
      });
      if (outcome === "created") return "created";
      // The event stands already: a concurrent run's, or one an older version wrote with the
      // approved message (its handler waits until the message is sent). Marking sent is idempotent.
      await firestoreCall("mark message sent", async () => {
        await messages.doc(messageId).update(patch);
      });
      return "event_existed";
    },

    storeSentMessage: ({ message, journalEntry, deliveryEvent, completedSlot, claimToken }) =>
      createOnce("store sent message", async () => {
        // The message's create() first: when it stands already the batch writes nothing (the
        // local emulator applies a batch's writes up to the failing one; real Firestore all or
        // none). The entry and the event have ids derived from the slot, so they exist only
        // with the message, and so does the slot's completion.
        const batch = db.batch();
        batch.create(messages.doc(message.id), message);
        batch.create(
          users.doc(message.uid).collection(COLLECTIONS.journalEntries).doc(journalEntry.entryId),
          journalEntry.entry,
        );
        batch.create(events.doc(deliveryEvent.id), deliveryEvent);
        batch.set(slots.doc(completedSlot.slotId), {
          ...completedSlot,
          claimToken,
          ...expiry(COMPLETED_SLOT_RETENTION, completedSlot.updatedAt),
        });
        await commitBatch(batch, "store sent message");
      }),

    ensureDeliveryEvent: (deliveryEvent) =>
      createOnce("create delivery event", () => events.doc(deliveryEvent.id).create(deliveryEvent)),

    createJournalEntry: ({ uid, entryId, entry }) =>
      createOnce("create journal entry", () =>
        users.doc(uid).collection(COLLECTIONS.journalEntries).doc(entryId).create(entry),
      ),

    setNextDue: ({ uid, nextCoachingMessageDue, missedWindows, coachingEnabled }) =>
      firestoreCall("reschedule user", async () => {
        // update(), not set(): a user deleted meanwhile must not come back as a stub. The rank
        // orders the user inside their group of equal due times (core/due-rank.ts); the enable
        // flag's mirror rides in the same update (no write of its own).
        await users.doc(uid).update({
          [DUE_FIELD]: nextCoachingMessageDue,
          [RANK_FIELD]: dueRank({ uid, dueAt: nextCoachingMessageDue, missedWindows }),
          ...(coachingEnabled === undefined ? {} : { [COACHING_ENABLED_FIELD]: coachingEnabled }),
        });
      }),

    markCoachingEnabled: (uid) =>
      firestoreCall("mark coaching enabled", async () => {
        // update(), not set(): a user deleted meanwhile must not come back as a stub; their
        // mirror no longer matters, so NOT_FOUND counts as done.
        await users
          .doc(uid)
          .update({ [COACHING_ENABLED_FIELD]: true })
          .catch((error: unknown) => {
            if (!isNotFound(error)) throw error;
          });
      }),
  };
}
