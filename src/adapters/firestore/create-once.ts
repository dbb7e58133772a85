import { firestoreCall } from "./errors";

/** gRPC ALREADY_EXISTS: the document a `create()` aimed at is already there. */
const ALREADY_EXISTS = 6;

export function isAlreadyExists(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === ALREADY_EXISTS;
}

/** gRPC NOT_FOUND: the document an `update()` aimed at is gone. */
const NOT_FOUND = 5;

export function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === NOT_FOUND;
}

/** A `create()` that reports a conflict instead of throwing: the basis of every claim. */
export function createOnce(operation: string, create: () => Promise<unknown>): Promise<"created" | "exists"> {
  return firestoreCall(operation, async () => {
    try {
      await create();
      return "created" as const;
    } catch (error) {
      if (isAlreadyExists(error)) return "exists" as const;
      throw error;
    }
  });
}
