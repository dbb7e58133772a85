import { z } from "zod";

/** Firestore's own limit on a document id, in UTF-8 bytes. */
export const MAX_DOCUMENT_ID_BYTES = 1_500;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * A string Firestore accepts as a document id, checked before it reaches Firestore (which
 * throws on these, and a throw there would be a 500 or a crashed page): not empty, no '/',
 * not "." or "..", not `__…__` (reserved), at most 1,500 bytes, and valid Unicode (a lone
 * surrogate cannot be encoded).
 */
export function documentIdProblem(value: string): string | undefined {
  if (value.length === 0) return "must not be empty";
  if (value.includes("/")) return "must not contain '/'";
  if (value === "." || value === "..") return "is not a document id";
  if (/^__.*__$/s.test(value)) return "is reserved (ids of the form __name__)";
  if (LONE_SURROGATE.test(value)) return "is not valid Unicode";
  if (new TextEncoder().encode(value).length > MAX_DOCUMENT_ID_BYTES)
    return `must be at most ${MAX_DOCUMENT_ID_BYTES} bytes`;
  return undefined;
}

/** Whether `value` can name a Firestore document. */
export function isDocumentId(value: string): boolean {
  return documentIdProblem(value) === undefined;
}

/** A document id of at most `maxLength` characters (uids are at most 128). */
export function documentIdSchema({ maxLength }: { maxLength: number }) {
  return z
    .string()
    .max(maxLength, `must be at most ${maxLength} characters`)
    .superRefine((value, context) => {
      const problem = documentIdProblem(value);
      if (problem) context.addIssue({ code: "custom", message: problem });
    });
}
