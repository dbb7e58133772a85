import "server-only";
import type { Firestore, Query } from "firebase-admin/firestore";
import { messageCreatedEventId } from "@/core/events";
import type { ProcessingState, UserStatus } from "@/core/processing-state";
import { parseProcessingState } from "@/core/processing-state-parse";
import { parseUserDocument, type UserSnapshot } from "@/core/user";
import { deleteDocuments, deleteMatching } from "../batched-delete";
import { COLLECTIONS, DUE_FIELD } from "../collections";
import { firestoreCall } from "../errors";
import { type MessageView, parseMessageView } from "./documents";

export interface UserListEntry {
  uid: string;
  status: UserStatus;
  phase: ProcessingState["phase"];
  stats: ProcessingState["stats"];
  consecutiveFailures: number;
  suspendUntil: number | null;
  updatedAt: number;
}

/** What clearing a user's coaching data deleted, per kind. */
export interface ClearedUserData {
  coachingMessages: number;
  deliveryEvents: number;
  coachingJournalEntries: number;
  coachingSlots: number;
  coachingSlotLeases: number;
  /** With it go the user's LLM usage counters and journal insights, which are kept on it. */
  processingState: number;
  /** The insights document of versions before insights moved onto the processing state. */
  legacyInsights: number;
}

/** One user, as the operators see and act on them: the user pages and the `/api/admin/users` routes. */
export function createFirestoreUserAdminStore(db: Firestore) {
  const users = db.collection(COLLECTIONS.users);
  const states = db.collection(COLLECTIONS.userProcessingState);
  const messages = db.collection(COLLECTIONS.coachingMessages);
  const events = db.collection(COLLECTIONS.events);

  return {
    getUser: (uid: string): Promise<UserSnapshot | null> =>
      firestoreCall("read user", async () => {
        const snapshot = await users.doc(uid).get();
        return snapshot.exists ? parseUserDocument(uid, snapshot.data()) : null;
      }),

    getState: (uid: string): Promise<ProcessingState> =>
      firestoreCall("read processing state", async () =>
        parseProcessingState(uid, (await states.doc(uid).get()).data()),
      ),

    /** Users the engine has processed, by uid, `limit` after `afterUid`; keyset paging on a plain field. */
    listUserStates: ({
      afterUid,
      limit,
      status,
    }: {
      afterUid?: string;
      limit: number;
      status?: UserStatus;
    }) =>
      firestoreCall("list processing states", async () => {
        let query: Query = states;
        if (status) query = query.where("status", "==", status);
        if (afterUid) query = query.where("uid", ">", afterUid);
        const snapshot = await query.orderBy("uid").limit(limit).get();
        return snapshot.docs.map((document): UserListEntry => {
          const state = parseProcessingState(document.id, document.data());
          return {
            uid: state.uid,
            status: state.status,
            phase: state.phase,
            stats: state.stats,
            consecutiveFailures: state.consecutiveFailures,
            suspendUntil: state.suspendUntil,
            updatedAt: state.updatedAt,
          };
        });
      }),

    /** The user's latest coaching messages (any status), newest first. */
    listMessages: (uid: string, limit: number): Promise<MessageView[]> =>
      firestoreCall("list messages", async () => {
        const snapshot = await messages
          .where("uid", "==", uid)
          .orderBy("createdAt", "desc")
          .limit(limit)
          .get();
        return snapshot.docs.map((document) => parseMessageView(document.id, document.data()));
      }),

    /**
     * An operator's change to the state, merged field by field: the run counters, LLM usage and
     * insights kept on the state are not the operator's to rewrite (a whole-state `set()` would
     * drop them, and fold the top-level totals into `stats` a second time).
     */
    saveOperatorChange: (
      uid: string,
      change: Pick<
        ProcessingState,
        "status" | "suspendUntil" | "suspendReason" | "actionHistory" | "updatedAt"
      > &
        Partial<Pick<ProcessingState, "consecutiveFailures">>,
    ) =>
      firestoreCall("save processing state", async () => {
        await states.doc(uid).set({ uid, ...change }, { merge: true });
      }),

    /** Suspension lives on the user document too, so the scheduler sees it in the documents it already reads. */
    setSuspension: ({
      uid,
      suspendUntil,
      nextCoachingMessageDue,
    }: {
      uid: string;
      suspendUntil: number | null;
      nextCoachingMessageDue?: number;
    }) =>
      firestoreCall("set suspension", async () => {
        await users.doc(uid).update({
          suspendUntil,
          ...(nextCoachingMessageDue === undefined ? {} : { [DUE_FIELD]: nextCoachingMessageDue }),
        });
      }),

    /**
     * Removes one user's coaching data: messages (and their delivery events), coaching journal
     * entries, slots and their leases, processing state; the schedule goes back to bootstrap.
     * Every query is scoped to this uid, so no other user's documents are touched.
     */
    clearUserData: (uid: string): Promise<ClearedUserData> =>
      firestoreCall("clear user data", async () => {
        const ownMessages = messages.where("uid", "==", uid);
        const slotIds = (await ownMessages.select("slotId").get()).docs
          .map((document) => document.get("slotId"))
          .filter((slotId): slotId is string => typeof slotId === "string");
        const deliveryEvents = [...new Set(slotIds.map(messageCreatedEventId))].map((id) => events.doc(id));
        const state = states.doc(uid);
        const hadState = (await state.get()).exists;
        const legacyInsights = db.collection(COLLECTIONS.userInsights).doc(uid);
        const hadLegacyInsights = (await legacyInsights.get()).exists;
        const deleted: ClearedUserData = {
          deliveryEvents: await deleteDocuments(db, deliveryEvents),
          coachingMessages: await deleteMatching(db, ownMessages),
          coachingJournalEntries: await deleteMatching(
            db,
            users.doc(uid).collection(COLLECTIONS.journalEntries).where("isCoachingMessage", "==", true),
          ),
          coachingSlots: await deleteMatching(
            db,
            db.collection(COLLECTIONS.coachingSlots).where("uid", "==", uid),
          ),
          coachingSlotLeases: await deleteMatching(
            db,
            db.collection(COLLECTIONS.coachingSlotLeases).where("uid", "==", uid),
          ),
          processingState: hadState ? await deleteDocuments(db, [state]) : 0,
          // Left, it would come back as the user's insights at their next run.
          legacyInsights: hadLegacyInsights ? await deleteDocuments(db, [legacyInsights]) : 0,
        };
        await users.doc(uid).update({ [DUE_FIELD]: null, suspendUntil: null });
        return deleted;
      }),
  };
}

export type UserAdminStore = ReturnType<typeof createFirestoreUserAdminStore>;
