/**
 * An in-memory twin of the Firestore processor store, over the same in-memory database as the
 * scheduler store: the simulator runs the real processor pipeline on it, on a virtual clock.
 * `create()` semantics are kept (a second create of one id reports "exists").
 */
import type { JournalEntry, PastMessage } from "@/core/coaching-context";
import type { SlotRecord } from "@/core/due-slot";
import type { EventRecord } from "@/core/events";
import type { UserInsights } from "@/core/insights";
import { parseUserDocument } from "@/core/user";
import type { CoachingJournalEntry, ProcessorStore, StoredMessage } from "@/pipeline/processor-ports";
import type { InMemoryDatabase } from "./scheduler-store";

export interface InMemoryProcessorData {
  slots: Map<string, SlotRecord>;
  leases: Set<string>;
  messages: Map<string, StoredMessage>;
  /** Sent messages per user, newest last, for the recent-messages query. */
  sentByUser: Map<string, StoredMessage[]>;
  events: Map<string, EventRecord>;
  journal: Map<string, (JournalEntry | (CoachingJournalEntry & { id: string }))[]>;
  insights: Map<string, UserInsights>;
}

export function createInMemoryProcessorData(): InMemoryProcessorData {
  return {
    slots: new Map(),
    leases: new Set(),
    messages: new Map(),
    sentByUser: new Map(),
    events: new Map(),
    journal: new Map(),
    insights: new Map(),
  };
}

export function createInMemoryProcessorStore(
  database: InMemoryDatabase,
  data: InMemoryProcessorData,
): ProcessorStore {
  const count = (reads: number, writes = 0) => {
    database.counters.documentsRead += reads;
    database.counters.documentsWritten += writes;
  };
  return {
    async getUser(uid) {
      count(1);
      const document = database.users.get(uid);
      return document ? parseUserDocument(uid, structuredClone(document)) : null;
    },
    async getSlot(slotId) {
      count(1);
      const slot = data.slots.get(slotId);
      return slot ? { ...slot } : null;
    },
    async createLease({ slotId, leaseNumber }) {
      const id = `${slotId}_${leaseNumber}`;
      if (data.leases.has(id)) return false;
      data.leases.add(id);
      count(0, 1);
      return true;
    },
    async saveSlot(slot) {
      data.slots.set(slot.slotId, { ...slot });
      count(0, 1);
    },
    async listJournalEntries({ uid, limit }) {
      const entries = (data.journal.get(uid) ?? [])
        .filter((entry): entry is JournalEntry => !("isCoachingMessage" in entry))
        .sort((first, second) => second.createdAt - first.createdAt)
        .slice(0, limit);
      count(entries.length);
      return entries;
    },
    async listRecentMessages({ uid, limit }) {
      const recent: PastMessage[] = (data.sentByUser.get(uid) ?? [])
        .slice(-limit)
        .reverse()
        .flatMap((message) =>
          message.messageType
            ? [
                {
                  messageType: message.messageType,
                  messageContent: message.messageContent,
                  createdAt: message.createdAt,
                },
              ]
            : [],
        );
      count(recent.length);
      return recent;
    },
    async getInsights(uid) {
      count(1);
      return data.insights.get(uid) ?? null;
    },
    async saveInsights(insights) {
      data.insights.set(insights.uid, insights);
      count(0, 1);
    },
    async listEntriesAfter({ uid, after, limit }) {
      const entries = (data.journal.get(uid) ?? [])
        .filter((entry): entry is JournalEntry => !("isCoachingMessage" in entry) && entry.createdAt > after)
        .sort((first, second) => first.createdAt - second.createdAt)
        .slice(0, limit);
      count(entries.length);
      return entries;
    },
    async getMessage(messageId) {
      count(1);
      const message = data.messages.get(messageId);
      return message ? structuredClone(message) : null;
    },
    async saveMessage(message) {
      data.messages.set(message.id, structuredClone(message));
      count(0, 1);
    },
    async createMessage(message, deliveryEvent) {
      if (data.messages.has(message.id)) return "exists";
      data.messages.set(message.id, structuredClone(message));
      data.events.set(deliveryEvent.id, structuredClone(deliveryEvent));
      count(0, 2);
      return "created";
    },
    async updateMessage(messageId, patch) {
      const message = data.messages.get(messageId);
      if (!message) throw new Error(`no message ${messageId}`);
      const updated = { ...message, ...structuredClone(patch) };
      data.messages.set(messageId, updated);
      if (patch.wasSent === true && !message.wasSent) {
        const sent = data.sentByUser.get(updated.uid) ?? [];
        sent.push(updated);
        data.sentByUser.set(updated.uid, sent);
      }
      count(0, 1);
    },
    async createJournalEntry({ uid, entryId, entry }) {
      const entries = data.journal.get(uid) ?? [];
      if (entries.some((existing) => "id" in existing && existing.id === entryId)) return "exists";
      entries.push({ ...entry, id: entryId });
      data.journal.set(uid, entries);
      count(0, 1);
      return "created";
    },
    async setNextDue({ uid, nextCoachingMessageDue }) {
      const document = database.users.get(uid);
      if (!document) throw new Error(`no user ${uid}`);
      document.nextCoachingMessageDue = nextCoachingMessageDue;
      count(0, 1);
    },
  };
}
