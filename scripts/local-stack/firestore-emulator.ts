/**
 * The Firestore emulator for `npm run dev`, tests and benchmarks: `@firestore-emulator/server`
 * (a gRPC Firestore in Node) with instruments around its handlers that count, per project, the
 * documents the server sends back and the writes it applies, and record the shape of every
 * query. Counting at the server is what makes "the tick read 50 users, not 5,000" a measured
 * fact rather than the engine's own claim.
 */
import { FirestoreServer, FirestoreStateDocument } from "@firestore-emulator/server";

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
  /** Documents returned by queries and batch gets (what Firestore bills as reads). */
  documentsRead: number;
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

/** Starts the emulator on `port` (0 picks a free one) on 127.0.0.1. */
export async function startFirestoreEmulator({ port = 0 }: { port?: number } = {}): Promise<RunningEmulator> {
  teachDocumentNames();
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

  wrap(
    "RunQuery",
    (call) => {
      stats(projectOf(call.request.parent)).queries += 1;
      remember(recordQuery(call.request.toObject().structured_query as Json, false));
    },
    (call, message) => {
      const document = message.document as Json | undefined;
      if (!document?.name) return;
      const entry = stats(projectOf(call.request.parent));
      entry.documentsRead += 1;
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
      if (!found?.name) return;
      const entry = stats(projectOf(call.request.database));
      entry.documentsRead += 1;
      const collection = topCollectionOf(found.name);
      entry.documentsReadByCollection[collection] = (entry.documentsReadByCollection[collection] ?? 0) + 1;
    },
  );
  wrap("Commit", (call) => {
    const entry = stats(projectOf(call.request.database));
    entry.commits += 1;
    entry.writes += ((call.request.toObject().writes as unknown[] | undefined) ?? []).length;
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
