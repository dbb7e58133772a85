import "server-only";
import { type DocumentSnapshot, FieldPath, type Firestore, type Query } from "firebase-admin/firestore";
import { isDocumentId } from "@/core/document-id";
import { USER_STATUSES, type UserStatus } from "@/core/processing-state";
import { isValidTimezone } from "@/core/schedule";
import { isInstant } from "@/core/user";
import { COLLECTIONS, DUE_FIELD } from "../collections";
import { firestoreCall } from "../errors";
import { parseLastMessage } from "./documents";

export interface UserRow {
  uid: string;
  email: string;
  timezone: string | null;
  timePreference: string | null;
  frequency: string | null;
  enabled: boolean;
  nextCoachingMessageDue: number | null;
  status: UserStatus;
  lastMessageType: string | null;
  lastRating: number | null;
}

export interface UserFilters {
  status?: UserStatus;
  timePreference?: string;
  frequency?: string;
}

/** Users read per query while filling a page: the filters are applied to what was read. */
const SCAN_BATCH = 50;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/** A user document and its processing status as a row, without the last message (read for kept rows only). */
function rowOf(user: DocumentSnapshot, status: unknown): UserRow {
  // Written by the app: each field is used only when it has the documented type.
  const email = user.get("email");
  const timezone = user.get("timezone");
  const config = user.get("coachingConfig");
  const setting = (name: string): unknown => (isRecord(config) ? config[name] : undefined);
  const timePreference = setting("timePreference");
  const frequency = setting("frequency");
  const due = user.get(DUE_FIELD);
  return {
    uid: user.id,
    email: typeof email === "string" ? email : "",
    // Only a zone the runtime knows: the page formats times in it.
    timezone: typeof timezone === "string" && isValidTimezone(timezone) ? timezone : null,
    timePreference: typeof timePreference === "string" ? timePreference : null,
    frequency: typeof frequency === "string" ? frequency : null,
    enabled: setting("enableCoachingMessages") === true,
    nextCoachingMessageDue: isInstant(due) ? due : null,
    status: USER_STATUSES.find((known) => known === status) ?? "waiting",
    lastMessageType: null,
    lastRating: null,
  };
}

/**
 * Where a page of the table ends: the email and the uid of its last user. The table is ordered by
 * email, then uid, so the next page starts after both (an email alone would skip the other users
 * who share it). Written as JSON in the page's `after` parameter.
 */
interface TableCursor {
  email: string;
  uid: string | null;
}

/** The `after` parameter as a cursor; a bare email (a link from before the uid was added) still works. */
export function parseTableCursor(after: string | undefined): TableCursor | null {
  if (!after) return null;
  try {
    const parsed: unknown = JSON.parse(after);
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      typeof parsed[0] === "string" &&
      typeof parsed[1] === "string" &&
      isDocumentId(parsed[1])
    )
      return { email: parsed[0], uid: parsed[1] };
  } catch {
    // Not JSON: a bare email.
  }
  return { email: after, uid: null };
}

const formatTableCursor = ({ email, uid }: TableCursor): string =>
  uid === null ? email : JSON.stringify([email, uid]);

function matches(row: UserRow, filters: UserFilters): boolean {
  return (
    (!filters.status || row.status === filters.status) &&
    (!filters.timePreference || row.timePreference === filters.timePreference) &&
    (!filters.frequency || row.frequency === filters.frequency)
  );
}

/** The users table (`/admin/users`) and a user's journal on their page. */
export function createFirestoreUsersTableStore(db: Firestore) {
  const users = db.collection(COLLECTIONS.users);
  const states = db.collection(COLLECTIONS.userProcessingState);
  const messages = db.collection(COLLECTIONS.coachingMessages);

  /** Rows for user documents: their statuses in one batched read, no per-row query. */
  const rowsOf = async (documents: DocumentSnapshot[]): Promise<UserRow[]> => {
    if (documents.length === 0) return [];
    const stateSnapshots = await db.getAll(...documents.map((document) => states.doc(document.id)));
    const statusOf = new Map(stateSnapshots.map((snapshot) => [snapshot.id, snapshot.get("status")]));
    return documents.map((document) => rowOf(document, statusOf.get(document.id)));
  };

  /**
   * The last message's type and rating, for the rows on the page only: one query each (the
   * latest attempt of any status), after the filters, so a page costs at most `limit` of them
   * however many users the filters skipped.
   */
  const withLastMessages = (rows: UserRow[]): Promise<UserRow[]> =>
    Promise.all(
      rows.map(async (row) => {
        const last = await messages
          .where("uid", "==", row.uid)
          .orderBy("createdAt", "desc")
          .limit(1)
          .select("messageType", "effectivenessRating")
          .get();
        const { messageType, rating } = parseLastMessage(last.docs[0]?.data());
        return { ...row, lastMessageType: messageType, lastRating: rating };
      }),
    );

  return {
    /**
     * A page of the users table, by email then uid: users whose email is a string (any other is
     * found by uid). `query` matches a uid exactly or an email prefix.
     * Filters on the nested configuration are applied to what was read (Firestore indexes only
     * the top-level fields the engine queries), scanning at most `scanLimit` users per page.
     */
    listUsers: ({
      query,
      after,
      limit,
      filters,
      scanLimit = 400,
    }: {
      query?: string;
      after?: string;
      limit: number;
      filters: UserFilters;
      scanLimit?: number;
    }) =>
      firestoreCall("list users", async () => {
        // Only a string Firestore accepts as an id is looked up as one ("a/b" or "__x__" would throw).
        if (query && isDocumentId(query)) {
          const exact = await users.doc(query).get();
          if (exact.exists) return { rows: await withLastMessages(await rowsOf([exact])), nextCursor: null };
        }
        const rows: UserRow[] = [];
        let cursor = parseTableCursor(after);
        let scanned = 0;
        let exhausted = false;
        // Filters, not startAfter(): the emulator ignores query cursors. A page that ended inside a
        // group of users sharing an email goes on from that email (`>=`), skipping the uids up to
        // the cursor; a group larger than a batch is read on by uid (the email's single-field
        // index serves `email ==` ordered by id).
        const isPast = (document: DocumentSnapshot, at: TableCursor | null) =>
          !at || at.uid === null || document.get("email") !== at.email || document.id > at.uid;
        while (rows.length < limit && scanned < scanLimit) {
          const batchSize = Math.min(SCAN_BATCH, scanLimit - scanned);
          let page: Query = users;
          if (query) page = page.where("email", ">=", query).where("email", "<", `${query}\uf8ff`);
          if (cursor) page = page.where("email", cursor.uid === null ? ">" : ">=", cursor.email);
          // Strings only (a range on a string matches strings only): a user whose email is another
          // type (null, a number: by hand or an old app) would sort before every string and could
          // not be paged past. Such a user is found by their uid in the search box.
          else if (!query) page = page.where("email", ">=", "");
          const snapshot = await page.orderBy("email").orderBy(FieldPath.documentId()).limit(batchSize).get();
          scanned += snapshot.size;
          let documents = snapshot.docs.filter((document) => isPast(document, cursor));
          let lastOfGroup = false;
          let lastOfAll = snapshot.size < batchSize;
          if (documents.length === 0 && !lastOfAll && cursor?.uid != null) {
            const group = await users
              .where("email", "==", cursor.email)
              .where(FieldPath.documentId(), ">", cursor.uid)
              .orderBy(FieldPath.documentId())
              .limit(batchSize)
              .get();
            scanned += group.size;
            documents = group.docs;
            lastOfGroup = group.size < batchSize;
            lastOfAll = false;
          }
          const read = await rowsOf(documents);
          let stopped = false;
          for (const [index, row] of read.entries()) {
            if (rows.length >= limit) {
              stopped = true;
              break;
            }
            const email = documents[index]?.get("email");
            // Every user the queries return has a string email (the filters are ranges on strings).
            if (typeof email === "string") cursor = { email, uid: row.uid };
            if (matches(row, filters)) rows.push(row);
          }
          // The whole of a large group is read: the emails after it are next.
          if (lastOfGroup && !stopped && cursor) cursor = { email: cursor.email, uid: null };
          if (lastOfAll) {
            exhausted = true;
            break;
          }
        }
        return {
          rows: await withLastMessages(rows),
          nextCursor: (exhausted && rows.length < limit) || !cursor ? null : formatTableCursor(cursor),
        };
      }),

    /** A user's latest journal entries, newest first. */
    listJournal: (uid: string, limit: number) =>
      firestoreCall("read journal", async () => {
        const snapshot = await users
          .doc(uid)
          .collection(COLLECTIONS.journalEntries)
          .orderBy("createdAt", "desc")
          .limit(limit)
          .get();
        // Written by the app: each field is used only when it has the documented type.
        return snapshot.docs.map((document) => {
          const { title, content, createdAt } = document.data();
          return {
            id: document.id,
            title: typeof title === "string" ? title : null,
            content: typeof content === "string" ? content : "",
            createdAt: isInstant(createdAt) ? createdAt : null,
            isCoachingMessage: document.get("isCoachingMessage") === true,
          };
        });
      }),
  };
}
