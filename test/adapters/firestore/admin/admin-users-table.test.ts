/**
 * The users table pages by email: users who share an email (re-registered accounts, test
 * accounts) must not be skipped by the page cursor, with or without filters.
 */
import type { Firestore } from "firebase-admin/firestore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createFirestoreUsersTableStore,
  type UserFilters,
} from "@/adapters/firestore/admin/users-table-store";
import { type EmulatorHandle, putDocuments, startTestEmulator } from "../../../support/firestore";
import {
  queriesMissingIndexes,
  queriesOnUnindexedFields,
  readFieldOverrides,
  readIndexes,
} from "../../../support/index-coverage";
import { userDocument } from "../../../support/users";

let handle: EmulatorHandle;
let db: Firestore;

beforeAll(async () => {
  handle = await startTestEmulator();
  ({ db } = handle.freshProject("users-table"));
  // 30 accounts on one email between two others, every third one suspended.
  const uids = Array.from({ length: 30 }, (_, index) => `shared-${String(index).padStart(2, "0")}`);
  await putDocuments(db, "users", [
    ["first", userDocument({ email: "aaa@example.com" })],
    ...uids.map((uid): [string, Record<string, unknown>] => [
      uid,
      userDocument({ email: "same@example.com" }),
    ]),
    ["last", userDocument({ email: "zzz@example.com" })],
  ]);
  await putDocuments(
    db,
    "userProcessingState",
    uids.map((uid, index): [string, Record<string, unknown>] => [
      uid,
      { uid, status: index % 3 === 0 ? "suspended" : "waiting", updatedAt: 0 },
    ]),
  );
});

afterAll(async () => {
  await handle?.stop();
});

/** Every uid the table lists, page after page, following `nextCursor` to its end. */
async function allPages(filters: UserFilters, query?: string, scanLimit = 40): Promise<string[]> {
  const store = createFirestoreUsersTableStore(db);
  const seen: string[] = [];
  let after: string | undefined;
  for (let page = 0; page < 40; page += 1) {
    const { rows, nextCursor } = await store.listUsers({ query, after, limit: 25, filters, scanLimit });
    seen.push(...rows.map((row) => row.uid));
    if (!nextCursor) return seen;
    after = nextCursor;
  }
  throw new Error("the table never reached its end");
}

describe("the users table's pages", () => {
  it("lists every user once when many share an email", async () => {
    const uids = await allPages({});
    expect(uids).toHaveLength(32);
    expect(new Set(uids).size).toBe(32);
    expect(uids[0]).toBe("first");
    expect(uids.at(-1)).toBe("last");
  });

  it("lists every matching user once with a filter, and with an email prefix", async () => {
    const suspended = await allPages({ status: "suspended" });
    expect(suspended).toEqual(
      Array.from({ length: 10 }, (_, index) => `shared-${String(index * 3).padStart(2, "0")}`),
    );
    expect(new Set(await allPages({}, "same@")).size).toBe(30);
  });

  it("lists every user once when the shared email's group is larger than what a page scans", async () => {
    const uids = await allPages({}, undefined, 7);
    expect(uids).toHaveLength(32);
    expect(new Set(uids).size).toBe(32);
    expect(await allPages({ status: "suspended" }, undefined, 7)).toHaveLength(10);
  });

  it("still follows a bare-email cursor (a link from before), and takes a junk one as an email", async () => {
    const store = createFirestoreUsersTableStore(db);
    const fromOld = await store.listUsers({ after: "aaa@example.com", limit: 5, filters: {} });
    expect(fromOld.rows.map((row) => row.uid)).toEqual([
      "shared-00",
      "shared-01",
      "shared-02",
      "shared-03",
      "shared-04",
    ]);
    const junk = await store.listUsers({ after: '["same@example.com", "a/b"]', limit: 5, filters: {} });
    // '[' sorts before letters: the table starts from the top, nothing thrown.
    expect(junk.rows[0]?.uid).toBe("first");
  });

  it("pages past users whose email is not a string (by hand or an old app), who are found by uid", async () => {
    const { db: junkDb } = handle.freshProject("users-table-junk-email");
    await putDocuments(junkDb, "users", [
      ...Array.from({ length: 60 }, (_, index): [string, Record<string, unknown>] => [
        `junk-${String(index).padStart(2, "0")}`,
        { ...userDocument(), email: index % 2 === 0 ? 42 : null },
      ]),
      ["real", userDocument({ email: "real@example.com" })],
    ]);
    const store = createFirestoreUsersTableStore(junkDb);
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 10; page += 1) {
      const { rows, nextCursor } = await store.listUsers({ after, limit: 25, filters: {} });
      seen.push(...rows.map((row) => row.uid));
      if (!nextCursor) break;
      after = nextCursor;
    }
    // Users are listed by email: those without a string one are found by uid.
    expect(seen).toEqual(["real"]);
    expect((await store.listUsers({ query: "junk-07", limit: 25, filters: {} })).rows[0]?.uid).toBe(
      "junk-07",
    );
  });

  it("every query these pages issued has its index, and none filters or orders on an unindexed field", () => {
    const queries = handle.emulator.recordedQueries();
    expect(queries.some((recorded) => recorded.collectionGroup === "users")).toBe(true);
    expect(queriesMissingIndexes(queries, readIndexes())).toEqual([]);
    expect(queriesOnUnindexedFields(queries, readFieldOverrides())).toEqual([]);
  });
});
