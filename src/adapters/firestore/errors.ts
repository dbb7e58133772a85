import { AppError } from "@/core/errors";

/** Runs one Firestore operation, turning a vendor failure into `unavailable:firestore` with its cause. */
export async function firestoreCall<Result>(operation: string, call: () => Promise<Result>): Promise<Result> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof AppError) throw error;
    const detail = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new AppError("unavailable:firestore", `Firestore ${operation} failed: ${detail}`, { cause: error });
  }
}
