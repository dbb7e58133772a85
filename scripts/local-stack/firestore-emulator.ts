/**
 * The Firestore emulator for `npm run dev`, tests and benchmarks: `@firestore-emulator/server`
 * (a gRPC Firestore in Node) with instruments around its handlers that count, per project, the
 * documents the server sends back and the writes it applies, and record the shape of every
 * query. Counting at the server is what makes "the tick read 50 users, not 5,000" a measured
 * fact rather than the engine's own claim.
 */
import { FirestoreServer, FirestoreState, FirestoreStateDocument } from "@firestore-emulator/server";

const SERVICE = "/google.firestore.v1.Firestore";

/** Firestore's `StructuredQuery.FieldFilter.Operator` and `Direction` enums. */
const OPERATORS = [
  "OPERATOR_UNSPECIFIED",
  "<",
  "<=",
  ">",
  ">=",
  "==",
  "!=",
  "array-contains",
  "in",
  "array-contains-any",
  "not-in",
] as const;

export interface RecordedFilter {
  field: string;
  op: string;
}

export interface RecordedQuery {
  collectionGroup: string;
  allDescendants: boolean;
  filters: RecordedFilter[];
  orderBy: { field: string; direction: "ASCENDING" | "DESCENDING" }[];
  aggregation: boolean;
}

export interface ProjectStats {
  /** Documents returned by queries and batch gets. */
  documentsRead: number;
  /**
   * What Firestore bills as reads: every document returned, every lookup of a document that does
   * not exist (a batch get's `missing`), and one read for each query that returns nothing.
   */
  billedReads: number;
  /** Billed reads by the collection the document (or the empty query) is in: `journalEntries`, not `users`. */
  billedReadsByCollection: Record<string, number>;
  /** Writes applied, by the collection of the document written. */
  writesByCollection: Record<string, number>;
  /** Documents returned by queries on each top-level collection. */
  documentsReadByCollection: Record<string, number>;
  queries: number;
  aggregations: number;
  commits: number;
  writes: number;
}

export interface RunningEmulator {
  host: string;
  port: number;
  /** Counters for one project, created on first use. */
  stats(projectId: string): ProjectStats;
  resetStats(projectId: string): void;
  /** Every query shape the server has seen, across projects. */
  recordedQueries(): RecordedQuery[];
  stop(): Promise<void>;
}

interface GrpcHandler {
  func: (call: GrpcCall, callback?: unknown) => void;
}
interface GrpcCall {
  request: { toObject(): Record<string, unknown> } & Record<string, unknown>;
  write(message: { toObject?: () => Record<string, unknown> } & Record<string, unknown>): boolean;
  end?: (...rest: unknown[]) => void;
}

function projectOf(path: unknown): string {
  const match = typeof path === "string" ? /^projects\/([^/]+)\//.exec(`${path}/`) : null;
  return match?.[1] ?? "unknown";
}

type Json = Record<string, unknown>;

function flattenFilters(where: Json | undefined, into: RecordedFilter[]): RecordedFilter[] {
  if (!where) return into;
  const fieldFilter = where.field_filter as Json | undefined;
  const unaryFilter = where.unary_filter as Json | undefined;
  const compositeFilter = where.composite_filter as { filters?: Json[] } | undefined;
  if (fieldFilter?.field) {
    const op = OPERATORS[Number(fieldFilter.op)] ?? String(fieldFilter.op);
    into.push({ field: String((fieldFilter.field as Json).field_path), op });
  } else if (unaryFilter?.field) {
    into.push({ field: String((unaryFilter.field as Json).field_path), op: "unary" });
  } else if (compositeFilter?.filters) {
    for (const filter of compositeFilter.filters) flattenFilters(filter, into);
  }
  return into;
}

function recordQuery(structured: Json | undefined, aggregation: boolean): RecordedQuery | undefined {
  if (!structured) return undefined;
  const from = (structured.from as Json[] | undefined)?.[0] ?? {};
  return {
    collectionGroup: String(from.collection_id ?? ""),
    allDescendants: Boolean(from.all_descendants),
    filters: flattenFilters(structured.where as Json | undefined, []),
    orderBy: ((structured.order_by as Json[] | undefined) ?? []).map((order) => ({
      field: String((order.field as Json).field_path),
      direction: Number(order.direction) === 2 ? "DESCENDING" : "ASCENDING",
    })),
    aggregation,
  };
}

/** The collection a document is in, the innermost one (`users/u1/journalEntries/e1` → `journalEntries`). */
function collectionOf(documentName: unknown): string {
  const match = typeof documentName === "string" ? /\/documents\/(.+)$/.exec(documentName) : null;
  const segments = match?.[1]?.split("/") ?? [];
  return segments.length >= 2 ? (segments[segments.length - 2] ?? "unknown") : "unknown";
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

function topCollectionOf(documentName: unknown): string {
  const match = typeof documentName === "string" ? /\/documents\/([^/]+)/.exec(documentName) : null;
  return match?.[1] ?? "unknown";
}

/**
 * The package does not know the document name as a field, so it drops every filter on
 * `__name__` and leaves `orderBy(documentId())` unsorted. Real Firestore treats the name as a
 * reference that orders and compares by path; this gives the emulator the same, so a walk by
 * document id (`where(documentId(), ">", ref).orderBy(documentId())`) runs here as it would there.
 */
class DocumentNameField {
  readonly type = "reference_value";
  constructor(readonly value: string) {}
  private static nameOf(other: unknown): string | undefined {
    const field = other as { type?: unknown; value?: unknown } | undefined;
    return field?.type === "reference_value" ? String(field.value) : undefined;
  }
  toJSON() {
    return { type: this.type, value: this.value };
  }
  toV1ValueObject() {
    return { reference_value: this.value };
  }
  eq(other: unknown) {
    return DocumentNameField.nameOf(other) === this.value;
  }
  lt(other: unknown) {
    const name = DocumentNameField.nameOf(other);
    return name !== undefined && this.value < name;
  }
  lte(other: unknown) {
    const name = DocumentNameField.nameOf(other);
    return name !== undefined && this.value <= name;
  }
  gt(other: unknown) {
    const name = DocumentNameField.nameOf(other);
    return name !== undefined && this.value > name;
  }
  gte(other: unknown) {
    const name = DocumentNameField.nameOf(other);
    return name !== undefined && this.value >= name;
  }
}

let documentNamesTaught = false;
function teachDocumentNames(): void {
  if (documentNamesTaught) return;
  documentNamesTaught = true;
  const prototype = FirestoreStateDocument.prototype as unknown as {
    getField(path: string): unknown;
    getPath(): string;
  };
  const getField = prototype.getField;
  prototype.getField = function (this: typeof prototype, path: string) {
    return path === "__name__" ? new DocumentNameField(this.getPath()) : getField.call(this, path);
  };
}

/** The few members of the package's write transform that the array fix reads. */
interface FieldTransform {
  field_path: string;
  has_append_missing_elements?: boolean;
  has_remove_all_from_array?: boolean;
}

let arrayTransformsTaught = false;
/**
 * Teaches the package Firestore's array transforms on a field the document lacks: `arrayUnion`
 * sets it to the elements and `arrayRemove` to an empty array, where the package fails the write
 * ("Invalid transform"); and to apply every transform of a write (it stops after the first array
 * transform). The package does not export its array field type, so one is taken from a scratch
 * state that stores an empty array.
 */
function teachArrayTransforms(): void {
  if (arrayTransformsTaught) return;
  arrayTransformsTaught = true;
  const scratch = new FirestoreState() as unknown as {
    writeV1Document(date: Date, write: unknown): void;
    getDocument(path: string): { getField(path: string): unknown };
  };
  const name = "projects/scratch/databases/(default)/documents/scratch/array";
  const emptyArray = { has_array_value: true, array_value: { values: [] } };
  scratch.writeV1Document(new Date(), {
    has_update: true,
    update: { name, fields: new Map([["values", emptyArray]]) },
    update_transforms: [],
  });
  const ArrayField = (
    scratch.getDocument(name).getField("values") as { constructor: new (values: unknown[]) => unknown }
  ).constructor;

  const prototype = FirestoreStateDocument.prototype as unknown as {
    v1Transform(date: Date, transforms: FieldTransform[]): void;
    getField(path: string): unknown;
    set(date: Date, fields: Record<string, unknown>): void;
  };
  const v1Transform = prototype.v1Transform;
  prototype.v1Transform = function (this: typeof prototype, date: Date, transforms: FieldTransform[]) {
    for (const transform of transforms) {
      const onArray = transform.has_append_missing_elements || transform.has_remove_all_from_array;
      if (onArray && this.getField(transform.field_path) === undefined)
        this.set(date, { [transform.field_path]: new ArrayField([]) });
      v1Transform.call(this, date, [transform]);
    }
  };
}

/** The members of the package's v1 write that the write-semantics fix reads. */
interface V1Write {
  has_update?: boolean;
  has_update_mask?: boolean;
  update_mask?: { field_paths?: string[] };
  has_current_document?: boolean;
  current_document?: { has_exists?: boolean; exists?: boolean };
  update?: { name: string; fields: Map<string, unknown> };
}

interface StateDocument {
  metadata: { hasExist: boolean };
  fields: Record<string, { value?: unknown; constructor: new (value: unknown) => unknown }>;
}

let writeSemanticsTaught = false;
/**
 * Teaches the package what Firestore does with a write's field mask, where it merges every write
 * into the stored fields: a write with no mask (`set()` without `merge`) replaces the whole
 * document, and a masked path the write does not carry (`FieldValue.delete()`) is removed. Without
 * this a plain `set()` keeps fields real Firestore drops, and a field delete is a no-op, so code
 * that loses data on Firestore passes here.
 */
function teachWriteSemantics(): void {
  if (writeSemanticsTaught) return;
  writeSemanticsTaught = true;
  const prototype = FirestoreState.prototype as unknown as {
    writeV1Document(date: Date, write: V1Write): unknown;
    getDocument(path: string): StateDocument;
  };
  const writeV1Document = prototype.writeV1Document;
  prototype.writeV1Document = function (this: typeof prototype, date: Date, write: V1Write) {
    const creates =
      write.has_current_document && write.current_document?.has_exists && !write.current_document.exists;
    if (!write.has_update || !write.update || creates) return writeV1Document.call(this, date, write);
    const document = this.getDocument(write.update.name);
    const masked = write.has_update_mask === true;
    const existed = document.metadata.hasExist;
    const before = document.fields;
    if (!masked && existed) document.fields = {};
    try {
      const result = writeV1Document.call(this, date, write);
      if (masked)
        removeMaskedPathsNotWritten(document, write.update_mask?.field_paths ?? [], write.update.fields);
      return result;
    } catch (error) {
      // A write refused (a failed precondition) changes nothing.
      if (!masked && existed) document.fields = before;
      throw error;
    }
  };
}

/** Removes each masked path the write's fields do not hold (plain dotted paths; quoted ones are left). */
function removeMaskedPathsNotWritten(
  document: StateDocument,
  mask: string[],
  written: Map<string, unknown>,
): void {
  for (const path of mask) {
    if (path.includes("`")) continue;
    const parts = path.split(".");
    let carried: unknown = written.get(parts[0] ?? "");
    for (const part of parts.slice(1)) {
      const map = (carried as { map_value?: { fields?: Map<string, unknown> } } | undefined)?.map_value
        ?.fields;
      carried = map instanceof Map ? map.get(part) : undefined;
    }
    if (carried !== undefined) continue;
    document.fields = withoutPath(document.fields, parts);
  }
}

function withoutPath(fields: StateDocument["fields"], parts: string[]): StateDocument["fields"] {
  const [head, ...rest] = parts;
  if (head === undefined || !(head in fields)) return fields;
  const copy = { ...fields };
  if (rest.length === 0) {
    delete copy[head];
    return copy;
  }
  const field = fields[head];
  const inner = field?.value;
  if (!field || typeof inner !== "object" || inner === null || Array.isArray(inner)) return fields;
  copy[head] = new field.constructor(
    withoutPath(inner as StateDocument["fields"], rest),
  ) as StateDocument["fields"][string];
  return copy;
}

/** Starts the emulator on `port` (0 picks a free one) on 127.0.0.1. */
export async function startFirestoreEmulator({ port = 0 }: { port?: number } = {}): Promise<RunningEmulator> {
  teachDocumentNames();
  teachArrayTransforms();
  teachWriteSemantics();
  const emulator = new FirestoreServer();
  // The package keeps its gRPC server private; its handler table is where calls are routed.
  const grpcServer = (emulator as unknown as { server: { handlers?: Map<string, GrpcHandler> } }).server;
  const handlers = grpcServer.handlers;
  if (!(handlers instanceof Map)) {
    throw new Error("@firestore-emulator/server changed its internals: cannot instrument its gRPC handlers");
  }

  const statsByProject = new Map<string, ProjectStats>();
  const queries = new Map<string, RecordedQuery>();
  const stats = (projectId: string): ProjectStats => {
    let entry = statsByProject.get(projectId);
    if (!entry) {
      entry = {
        documentsRead: 0,
        billedReads: 0,
        billedReadsByCollection: {},
        writesByCollection: {},
        documentsReadByCollection: {},
        queries: 0,
        aggregations: 0,
        commits: 0,
        writes: 0,
      };
      statsByProject.set(projectId, entry);
    }
    return entry;
  };
  const remember = (query: RecordedQuery | undefined) => {
    if (query) queries.set(JSON.stringify(query), query);
  };

  const wrap = (
    method: string,
    before: (call: GrpcCall) => void,
    onWrite?: (call: GrpcCall, message: Json) => void,
  ) => {
    const handler = handlers.get(`${SERVICE}/${method}`);
    if (!handler) throw new Error(`emulator has no ${method} handler`);
    const original = handler.func;
    handler.func = (call, callback) => {
      before(call);
      if (onWrite) {
        const write = call.write.bind(call);
        call.write = (message) => {
          onWrite(call, message.toObject ? message.toObject() : message);
          return write(message);
        };
      }
      return original(call, callback);
    };
  };

  const documentsByQuery = new WeakMap<GrpcCall, number>();
  wrap(
    "RunQuery",
    (call) => {
      const entry = stats(projectOf(call.request.parent));
      entry.queries += 1;
      const structured = call.request.toObject().structured_query as Json;
      remember(recordQuery(structured, false));
      documentsByQuery.set(call, 0);
      // Firestore bills a query that returns nothing as one read.
      const end = call.end?.bind(call);
      if (end) {
        call.end = (...rest: unknown[]) => {
          if (documentsByQuery.get(call) === 0) {
            entry.billedReads += 1;
            const from = (structured?.from as Json[] | undefined)?.[0];
            bump(entry.billedReadsByCollection, String(from?.collection_id ?? "unknown"));
          }
          return end(...rest);
        };
      }
    },
    (call, message) => {
      const document = message.document as Json | undefined;
      if (!document?.name) return;
      const entry = stats(projectOf(call.request.parent));
      documentsByQuery.set(call, (documentsByQuery.get(call) ?? 0) + 1);
      entry.documentsRead += 1;
      entry.billedReads += 1;
      bump(entry.billedReadsByCollection, collectionOf(document.name));
      const collection = topCollectionOf(document.name);
      entry.documentsReadByCollection[collection] = (entry.documentsReadByCollection[collection] ?? 0) + 1;
    },
  );
  wrap("RunAggregationQuery", (call) => {
    stats(projectOf(call.request.parent)).aggregations += 1;
    const aggregation = call.request.toObject().structured_aggregation_query as Json | undefined;
    remember(recordQuery(aggregation?.structured_query as Json, true));
  });
  wrap(
    "BatchGetDocuments",
    () => {},
    (call, message) => {
      const found = message.found as Json | undefined;
      const entry = stats(projectOf(call.request.database));
      // A lookup of a document that does not exist is billed as a read too.
      if (typeof message.missing === "string" && message.missing) {
        entry.billedReads += 1;
        bump(entry.billedReadsByCollection, collectionOf(message.missing));
        return;
      }
      if (!found?.name) return;
      entry.billedReads += 1;
      bump(entry.billedReadsByCollection, collectionOf(found.name));
      entry.documentsRead += 1;
      const collection = topCollectionOf(found.name);
      entry.documentsReadByCollection[collection] = (entry.documentsReadByCollection[collection] ?? 0) + 1;
    },
  );
  wrap("Commit", (call) => {
    const entry = stats(projectOf(call.request.database));
    entry.commits += 1;
    const writes = (call.request.toObject().writes as Json[] | undefined) ?? [];
    entry.writes += writes.length;
    for (const write of writes) {
      const name =
        (write.update as Json | undefined)?.name ??
        write.delete ??
        (write.transform as Json | undefined)?.document;
      bump(entry.writesByCollection, collectionOf(name));
    }
  });

  const chosenPort = port === 0 ? await findFreePort() : port;
  await emulator.start(chosenPort);
  return {
    host: `127.0.0.1:${chosenPort}`,
    port: chosenPort,
    stats,
    resetStats: (projectId) => {
      statsByProject.delete(projectId);
    },
    recordedQueries: () => [...queries.values()],
    stop: async () => emulator.stop(),
  };
}

async function findFreePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}
