// Over 300 lines: the twin of adapters/firestore/processor-store.ts, method for method, so the two read side by side.
/**
 * An in-memory twin of the Firestore processor store, over the same in-memory database as the
 * scheduler store: the simulator runs the real processor pipeline on it, on a virtual clock.
 * `create()` semantics are kept (a second create of one id reports "exists"), and each batch of
 * the Firestore store is one synchronous step here, so it is as atomic as on real Firestore.
 */
import type { JournalEntry, PastMessage } from "@/core/coaching-context";
import { dueRank } from "@/core/due-rank";
import { type LeaseRecord, leaseId, type SlotRecord } from "@/core/due-slot";
import type { EventRecord } from "@/core/events";
import type { UserInsights } from "@/core/insights";
import {
  completeTimes,
  type EntriesAfter,
  foldEntriesAfterPage,
  JOURNAL_SCAN_MAX_PAGES,
  journalPageSize,
  toUserEntry,
} from "@/core/journal-scan";
import { emptyProcessingState } from "@/core/processing-state";
import { applyProcessingStateChange } from "@/core/processing-state-change";
import { parseUserDocument } from "@/core/user";
import type { CoachingJournalEntry, ProcessorStore, StoredMessage } from "@/pipeline/processor-store-ports";
import type { InMemoryProcessingStates } from "./processing-state-store";
import type { InMemoryDatabase } from "./scheduler-store";

export interface InMemoryProcessorData {
  slots: Map<string, SlotRecord>;
  /** `${slotId}_${leaseNumber}` → the lease as created. */
  leases: Map<string, LeaseRecord>;
  messages: Map<string, StoredMessage>;
  /** Sent messages per user, in the order they were sent, for the recent-messages query. */
  sentByUser: Map<string, StoredMessage[]>;
  events: Map<string, EventRecord>;
  journal: Map<string, (JournalEntry | (CoachingJournalEntry & { id: string }))[]>;
  insights: Map<string, UserInsights>;
}

export function createInMemoryProcessorData(): InMemoryProcessorData {
  return {
    slots: new Map(),
    leases: new Map(),
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
  /**
   * The processing states (adapters/memory/processing-state-store.ts), where insights are kept as
   * in Firestore; without them, `data.insights` stands in (tests of the processor store alone).
   */
  states?: InMemoryProcessingStates,
): ProcessorStore {
  const count = (reads: number, writes = 0) => {
    database.counters.documentsRead += reads;
    database.counters.documentsWritten += writes;
  };
  const updateMessage = (messageId: string, patch: Partial<StoredMessage>) => {
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
  };
  /** The user's journal as the Firestore store reads it: id, time, and the document's fields. */
  const journalDocuments = (uid: string) =>
    (data.journal.get(uid) ?? []).map((entry) => ({
      id: "id" in entry ? entry.id : "",
      createdAt: entry.createdAt,
      document: { ...entry } as Record<string, unknown>,
    }));
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
    async claimSlot({ slot, purpose, now, claimToken }) {
      if (purpose === "claim" && slot.leaseNumber === 1) {
        // The slot's own create(), as the Firestore store's first lease.
        const existing = data.slots.get(slot.slotId);
        if (existing) {
          count(1);
          return existing.claimToken === claimToken && existing.leaseNumber === 1 ? "claimed" : "taken";
        }
        data.slots.set(slot.slotId, { ...slot, claimToken });
        count(0, 1);
        return "claimed";
      }
      const id = leaseId(slot);
      const existing = data.leases.get(id);
      if (existing) {
        // The Firestore store's read-back after ALREADY_EXISTS: our own lease (a retried commit) is ours.
        count(1);
        return existing.claimToken === claimToken ? "claimed" : "taken";
      }
      data.leases.set(id, { claimedAt: now, leaseUntil: slot.leaseUntil, claimToken });
      data.slots.set(slot.slotId, { ...slot, claimToken });
      count(0, 2);
      return "claimed";
    },
    async getLease(input) {
      count(1);
      const lease = data.leases.get(leaseId(input));
      if (!lease) return null;
      return {
        claimedAt: lease.claimedAt,
        ...(lease.leaseUntil === undefined ? {} : { leaseUntil: lease.leaseUntil }),
        ...(lease.claimToken === undefined ? {} : { claimToken: lease.claimToken }),
      };
    },
    async listOpenSlots({ uid, limit }) {
      const open = [...data.slots.values()]
        .filter((slot) => slot.uid === uid && slot.status === "running")
        .sort((first, second) => first.dueAt - second.dueAt)
        .slice(0, limit)
        .map((slot) => ({ ...slot }));
      count(Math.max(open.length, 1));
      return open;
    },
    async listJournalEntries({ uid, limit }) {
      // The Firestore store's paged read, page for page, with the same bound.
      const newestFirst = journalDocuments(uid).toSorted(
        (first, second) => second.createdAt - first.createdAt,
      );
      const pageSize = journalPageSize(limit);
      const entries: JournalEntry[] = [];
      let before = Number.POSITIVE_INFINITY;
      for (let page = 0; page < JOURNAL_SCAN_MAX_PAGES && entries.length < limit; page += 1) {
        const read = newestFirst.filter((document) => document.createdAt < before).slice(0, pageSize);
        count(read.length);
        const documents = completeTimes(read, pageSize);
        for (const { id, document } of documents) {
          const entry = toUserEntry(id, document);
          if (entry && entries.length < limit) entries.push(entry);
        }
        const oldest = documents.at(-1)?.createdAt;
        if (read.length < pageSize || oldest === undefined) break;
        before = oldest;
      }
      return entries;
    },
    async listRecentMessages({ uid, limit }) {
      // Newest first by creation, as Firestore's `orderBy("createdAt", "desc")`: an older slot's
      // message resumed and sent late must not count as the newest.
      const recent: PastMessage[] = (data.sentByUser.get(uid) ?? [])
        .toSorted((first, second) => second.createdAt - first.createdAt)
        .slice(0, limit)
        .flatMap((message) =>
          message.messageType
            ? [
                {
                  messageType: message.messageType,
                  messageContent: message.messageContent,
                  createdAt: message.createdAt,
                  ...(typeof message.feedbackHelpful === "boolean"
                    ? { feedbackHelpful: message.feedbackHelpful }
                    : {}),
                  ...(message.emailOpened === true ? { emailOpened: true } : {}),
                },
              ]
            : [],
        );
      count(recent.length);
      return recent;
    },
    async listStaleRunningSlots({ leaseExpiredBefore, limit }) {
      const stale = [...data.slots.values()]
        .filter((slot) => slot.status === "running" && slot.leaseUntil < leaseExpiredBefore)
        .sort((first, second) => first.leaseUntil - second.leaseUntil)
        .slice(0, limit)
        .map((slot) => ({ ...slot }));
      count(Math.max(stale.length, 1));
      return stale;
    },
    async getInsights(uid) {
      count(1);
      // As the Firestore store: the state's insights; the old document for a state without them.
      const kept = states?.get(uid)?.insights;
      if (kept !== undefined) return structuredClone(kept);
      count(1);
      return structuredClone(data.insights.get(uid) ?? null);
    },
    async saveInsights(insights) {
      if (states) {
        const state = states.get(insights.uid) ?? emptyProcessingState(insights.uid, insights.updatedAt);
        states.set(
          insights.uid,
          applyProcessingStateChange(
            state,
            { set: { insights: structuredClone(insights) } },
            insights.updatedAt,
          ),
        );
      } else data.insights.set(insights.uid, structuredClone(insights));
      count(0, 1);
    },
    async listEntriesAfter({ uid, after, limit }) {
      // The Firestore store's paged read, page for page, so both report the same `readThrough`.
      const oldestFirst = journalDocuments(uid).toSorted(
        (first, second) => first.createdAt - second.createdAt,
      );
      const pageSize = journalPageSize(limit);
      let found: EntriesAfter = { entries: [], readThrough: after };
      for (let page = 0; page < JOURNAL_SCAN_MAX_PAGES; page += 1) {
        const read = oldestFirst
          .filter((document) => document.createdAt > found.readThrough)
          .slice(0, pageSize);
        count(read.length);
        const folded = foldEntriesAfterPage(found, completeTimes(read, pageSize), limit);
        found = { entries: folded.entries, readThrough: folded.readThrough };
        if (folded.full || read.length < pageSize) break;
      }
      return found;
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
    async createMessage(message) {
      if (data.messages.has(message.id)) return "exists";
      data.messages.set(message.id, structuredClone(message));
      count(0, 1);
      return "created";
    },
    async updateMessage(messageId, patch) {
      updateMessage(messageId, patch);
    },
    async markMessageSent({ messageId, patch, deliveryEvent }) {
      if (!data.messages.has(messageId)) throw new Error(`no message ${messageId}`);
      const existed = data.events.has(deliveryEvent.id);
      if (!existed) {
        data.events.set(deliveryEvent.id, structuredClone(deliveryEvent));
        count(0, 1);
      }
      updateMessage(messageId, patch);
      return existed ? "event_existed" : "created";
    },
    async storeSentMessage({ message, journalEntry, deliveryEvent, completedSlot, claimToken }) {
      // One batch, all or nothing, the message's create() deciding (as the Firestore store's).
      if (data.messages.has(message.id)) return "exists";
      const entries = data.journal.get(message.uid) ?? [];
      const entryExists = entries.some(
        (existing) => "id" in existing && existing.id === journalEntry.entryId,
      );
      if (entryExists || data.events.has(deliveryEvent.id)) return "exists";
      const stored = structuredClone(message);
      data.messages.set(message.id, stored);
      if (stored.wasSent)
        data.sentByUser.set(message.uid, [...(data.sentByUser.get(message.uid) ?? []), stored]);
      entries.push({ ...structuredClone(journalEntry.entry), id: journalEntry.entryId });
      data.journal.set(message.uid, entries);
      data.events.set(deliveryEvent.id, structuredClone(deliveryEvent));
      data.slots.set(completedSlot.slotId, { ...completedSlot, claimToken });
      count(0, 4);
      return "created";
    },
    async ensureDeliveryEvent(deliveryEvent) {
      if (data.events.has(deliveryEvent.id)) return "exists";
      data.events.set(deliveryEvent.id, structuredClone(deliveryEvent));
      count(0, 1);
      return "created";
    },
    async createJournalEntry({ uid, entryId, entry }) {
      const entries = data.journal.get(uid) ?? [];
      if (entries.some((existing) => "id" in existing && existing.id === entryId)) return "exists";
      entries.push({ ...entry, id: entryId });
      data.journal.set(uid, entries);
      count(0, 1);
      return "created";
    },
    async setNextDue({ uid, nextCoachingMessageDue, missedWindows, coachingEnabled }) {
      const document = database.users.get(uid);
      if (!document) throw new Error(`no user ${uid}`);
      document.nextCoachingMessageDue = nextCoachingMessageDue;
      document.coachingDueRank = dueRank({ uid, dueAt: nextCoachingMessageDue, missedWindows });
      if (coachingEnabled !== undefined) document.coachingEnabled = coachingEnabled;
      count(0, 1);
    },

    async markCoachingEnabled(uid) {
      const document = database.users.get(uid);
      // As Firestore's update(): a deleted user is not brought back.
      if (!document) return;
      document.coachingEnabled = true;
      count(0, 1);
    },
  };
}
