/**
 * Checks recorded query shapes against firestore.indexes.json with Firestore's rules: a query
 * that filters or orders on one field, or uses equality filters only, is served by the
 * automatic single-field indexes; anything else needs a composite index whose fields are the
 * equality fields (any order) followed by the ordered fields in order and direction.
 */
import { readFileSync } from "node:fs";
import type { RecordedQuery } from "../../scripts/local-stack/firestore-emulator";

interface IndexField {
  fieldPath: string;
  order?: "ASCENDING" | "DESCENDING";
  arrayConfig?: "CONTAINS";
}
interface CompositeIndex {
  collectionGroup: string;
  queryScope: "COLLECTION" | "COLLECTION_GROUP";
  fields: IndexField[];
}

const EQUALITY_OPS = new Set(["==", "in", "array-contains", "array-contains-any"]);
const DOCUMENT_ID = "__name__";

export function readIndexes(path = "firestore.indexes.json"): CompositeIndex[] {
  return (JSON.parse(readFileSync(path, "utf8")) as { indexes: CompositeIndex[] }).indexes;
}

/** A single-field override: `indexes: []` exempts the field (and a map's subfields) from indexing. */
export interface FieldOverride {
  collectionGroup: string;
  fieldPath: string;
  ttl?: boolean;
  indexes: { order?: "ASCENDING" | "DESCENDING"; arrayConfig?: "CONTAINS"; queryScope: string }[];
}

export function readFieldOverrides(path = "firestore.indexes.json"): FieldOverride[] {
  return (
    (JSON.parse(readFileSync(path, "utf8")) as { fieldOverrides?: FieldOverride[] }).fieldOverrides ?? []
  );
}

/**
 * The queries that filter or order on a field exempted from indexing and that no composite index
 * would serve: a query that needs no composite index runs on the single-field indexes, which an
 * exempted field no longer has, so it fails on Firestore. A query served by a composite index
 * does not use the single-field indexes (`queriesMissingIndexes` checks its composite).
 */
export function queriesOnUnindexedFields(
  queries: RecordedQuery[],
  overrides: FieldOverride[],
): RecordedQuery[] {
  const exempt = overrides.filter((override) => override.indexes.length === 0);
  const isExempt = (collectionGroup: string, field: string) =>
    exempt.some(
      (override) =>
        override.collectionGroup === collectionGroup &&
        (field === override.fieldPath || field.startsWith(`${override.fieldPath}.`)),
    );
  return queries.filter(
    (query) =>
      !needsCompositeIndex(query) &&
      [...query.filters.map((filter) => filter.field), ...query.orderBy.map((order) => order.field)].some(
        (field) => isExempt(query.collectionGroup, field),
      ),
  );
}

function requiredFields(query: RecordedQuery): { equality: Set<string>; ordered: IndexField[] } {
  const equality = new Set(
    query.filters.filter((filter) => EQUALITY_OPS.has(filter.op)).map((filter) => filter.field),
  );
  const ordered: IndexField[] = query.orderBy
    .filter((order) => order.field !== DOCUMENT_ID)
    .map((order) => ({ fieldPath: order.field, order: order.direction }));
  // Firestore orders by inequality fields first when the query does not say so. Every index
  // (single-field ones too) ends with the document id, so a range on it needs no index of its own.
  for (const filter of query.filters) {
    if (filter.field === DOCUMENT_ID) continue;
    if (!EQUALITY_OPS.has(filter.op) && !ordered.some((field) => field.fieldPath === filter.field)) {
      ordered.unshift({ fieldPath: filter.field, order: "ASCENDING" });
    }
  }
  for (const field of ordered) equality.delete(field.fieldPath);
  return { equality, ordered };
}

export function needsCompositeIndex(query: RecordedQuery): boolean {
  const { equality, ordered } = requiredFields(query);
  const fields = new Set([...equality, ...ordered.map((field) => field.fieldPath)]);
  if (fields.size <= 1) return false;
  return ordered.length > 0;
}

function covers(index: CompositeIndex, query: RecordedQuery): boolean {
  if (index.collectionGroup !== query.collectionGroup) return false;
  if ((index.queryScope === "COLLECTION_GROUP") !== query.allDescendants) return false;
  const { equality, ordered } = requiredFields(query);
  const fields = index.fields.filter((field) => field.fieldPath !== DOCUMENT_ID);
  if (fields.length !== equality.size + ordered.length) return false;
  const prefix = fields.slice(0, equality.size);
  const suffix = fields.slice(equality.size);
  return (
    prefix.every((field) => equality.has(field.fieldPath)) &&
    suffix.every((field, position) => {
      const wanted = ordered[position];
      return wanted && field.fieldPath === wanted.fieldPath && field.order === wanted.order;
    })
  );
}

/**
 * The queries firestore.indexes.json cannot serve: those that need a composite index it does not
 * declare, and those left to single-field indexes on a field its overrides exempt from indexing
 * (by default the file's own overrides, so every test that checks its queries checks both).
 */
export function queriesMissingIndexes(
  queries: RecordedQuery[],
  indexes: CompositeIndex[],
  overrides: FieldOverride[] = readFieldOverrides(),
): RecordedQuery[] {
  const unindexed = new Set(queriesOnUnindexedFields(queries, overrides));
  return queries.filter(
    (query) =>
      unindexed.has(query) || (needsCompositeIndex(query) && !indexes.some((index) => covers(index, query))),
  );
}
