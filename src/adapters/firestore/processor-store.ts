import "server-only";
import type { Firestore } from "firebase-admin/firestore";
import type { JournalEntry, PastMessage } from "@/core/coaching-context";
import { MESSAGE_TYPES } from "@/core/coaching-message";
import { leaseId, type SlotRecord } from "@/core/due-slot";
import type { UserInsights } from "@/core/insights";
import { parseUserDocument } from "@/core/user";
import type { ProcessorStore, StoredMessage } from "@/pipeline/processor-ports";
import { COLLECTIONS, DUE_FIELD } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";

/** Coaching entries the engine wrote are far rarer than the user's own; this over-read finds enough of the user's. */
const JOURNAL_OVERREAD = 3;

const messageTypes: ReadonlySet<string> = new Set(MESSAGE_TYPES);

export function createFirestoreProcessorStore(db: Firestore): ProcessorStore {
  const users = db.collection(COLLECTIONS.users);
  const slots = db.collection(COLLECTIONS.coachingSlots);
  const leases = db.collection(COLLECTIONS.coachingSlotLeases);
  const messages = db.collection(COLLECTIONS.coachingMessages);

  return {
    getUser: (uid) =>
      firestoreCall("read user", async () => {
        const snapshot = await users.doc(uid).get();
        return snapshot.exists ? parseUserDocument(uid, snapshot.data()) : null;
      }),

    getSlot: (slotId) =>
      firestoreCall("read slot", async () => {
        const snapshot = await slots.doc(slotId).get();
        return snapshot.exists ? (snapshot.data() as SlotRecord) : null;
      }),

    async createLease({ slotId, leaseNumber, uid, now }) {
      const outcome = await createOnce("claim slot", () =>
        leases.doc(leaseId({ slotId, leaseNumber })).create({ slotId, leaseNumber, uid, claimedAt: now }),
      );
      return outcome === "created";
    },

    saveSlot: (slot) =>
      firestoreCall("save slot", async () => {
        await slots.doc(slot.slotId).set(slot);
      }),

    listJournalEntries: ({ uid, limit }) =>
      firestoreCall("read journal", async () => {
        const snapshot = await users
          .doc(uid)
          .collection(COLLECTIONS.journalEntries)
          .orderBy("createdAt", "desc")
          .limit(limit * JOURNAL_OVERREAD)
          .get();
        const entries: JournalEntry[] = [];
        for (const document of snapshot.docs) {
          const entry = document.data();
          if (entry.isCoachingMessage === true) continue;
          if (typeof entry.content !== "string" || typeof entry.createdAt !== "number") continue;
          entries.push({
            id: document.id,
            content: entry.content,
            createdAt: entry.createdAt,
            ...(typeof entry.title === "string" ? { title: entry.title } : {}),
          });
          if (entries.length === limit) break;
        }
        return entries;
      }),

    listRecentMessages: ({ uid, limit }) =>
      firestoreCall("read recent messages", async () => {
        const snapshot = await messages
          .where("uid", "==", uid)
          .where("wasSent", "==", true)
          .orderBy("createdAt", "desc")
          .limit(limit)
          .get();
        const recent: PastMessage[] = [];
        for (const document of snapshot.docs) {
          const message = document.data() as Partial<StoredMessage>;
          if (!message.messageType || !messageTypes.has(message.messageType)) continue;
          if (typeof message.messageContent !== "string" || typeof message.createdAt !== "number") continue;
          recent.push({
            messageType: message.messageType,
            messageContent: message.messageContent,
            createdAt: message.createdAt,
          });
        }
        return recent;
      }),

    getInsights: (uid) =>
      firestoreCall("read insights", async () => {
        const snapshot = await db.collection(COLLECTIONS.userInsights).doc(uid).get();
        if (!snapshot.exists) return null;
        const stored = snapshot.data() as Partial<UserInsights>;
        // An insights document written by another tool may hold only a summary.
        return typeof stored.summary === "string"
          ? ({ analysedThrough: 0, batches: [], ...stored, uid } as UserInsights)
          : null;
      }),

    saveInsights: (insights) =>
      firestoreCall("save insights", async () => {
        await db.collection(COLLECTIONS.userInsights).doc(insights.uid).set(insights);
      }),

    listEntriesAfter: ({ uid, after, limit }) =>
      firestoreCall("read new journal entries", async () => {
        const snapshot = await users
          .doc(uid)
          .collection(COLLECTIONS.journalEntries)
          .where("createdAt", ">", after)
          .orderBy("createdAt")
          .limit(limit * JOURNAL_OVERREAD)
          .get();
        return snapshot.docs
          .map(
            (document) =>
              ({ id: document.id, ...document.data() }) as JournalEntry & { isCoachingMessage?: boolean },
          )
          .filter(
            (entry) =>
              entry.isCoachingMessage !== true &&
              typeof entry.content === "string" &&
              typeof entry.createdAt === "number",
          )
          .slice(0, limit)
          .map(({ id, content, createdAt, title }) => ({
            id,
            content,
            createdAt,
            ...(title ? { title } : {}),
          }));
      }),

    getMessage: (messageId) =>
      firestoreCall("read message", async () => {
        const snapshot = await messages.doc(messageId).get();
        return snapshot.exists ? (snapshot.data() as StoredMessage) : null;
      }),

    saveMessage: (message) =>
      firestoreCall("store attempt", async () => {
        await messages.doc(message.id).set(message);
      }),

    createMessage: (message, deliveryEvent) =>
      createOnce("store message", async () => {
        // create() of the message first: when it conflicts the batch writes nothing (the local
        // emulator applies a batch's writes up to the failing one).
        const batch = db.batch();
        batch.create(messages.doc(message.id), message);
        batch.create(db.collection(COLLECTIONS.events).doc(deliveryEvent.id), deliveryEvent);
        await batch.commit();
      }),

    updateMessage: (messageId, patch) =>
      firestoreCall("update message", async () => {
        await messages.doc(messageId).update(patch);
      }),

    createJournalEntry: ({ uid, entryId, entry }) =>
      createOnce("create journal entry", () =>
        users.doc(uid).collection(COLLECTIONS.journalEntries).doc(entryId).create(entry),
      ),

    setNextDue: ({ uid, nextCoachingMessageDue }) =>
      firestoreCall("reschedule user", async () => {
        // update(), not set(): a user deleted meanwhile must not come back as a stub.
        await users.doc(uid).update({ [DUE_FIELD]: nextCoachingMessageDue });
      }),
  };
}
