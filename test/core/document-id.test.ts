import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { documentIdProblem, documentIdSchema, isDocumentId } from "@/core/document-id";

describe("document ids Firestore accepts", () => {
  it.each([
    ["", "must not be empty"],
    ["a/b", "must not contain '/'"],
    [".", "is not a document id"],
    ["..", "is not a document id"],
    ["__x__", "is reserved (ids of the form __name__)"],
    ["____", "is reserved (ids of the form __name__)"],
    ["\ud800x", "is not valid Unicode"],
    ["é".repeat(751), "must be at most 1500 bytes"],
  ])("refuses %j: %s", (value, problem) => {
    expect(documentIdProblem(value)).toBe(problem);
  });

  it.each(["ada", "...", "_x_", "__x", "x__", "user@example.com", "é".repeat(750), "😀"])(
    "accepts %j",
    (value) => {
      expect(isDocumentId(value)).toBe(true);
    },
  );

  it("a uid schema also caps the length in characters", () => {
    const uid = documentIdSchema({ maxLength: 128 });
    expect(uid.safeParse("x".repeat(128)).success).toBe(true);
    expect(uid.safeParse("x".repeat(129)).success).toBe(false);
    expect(uid.safeParse("__x__").success).toBe(false);
  });

  it("never lets through an id with a slash, a reserved form or a lone surrogate", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (value) => {
        if (!isDocumentId(value)) return;
        expect(value).not.toContain("/");
        expect(value).not.toMatch(/^__.*__$/s);
        expect([".", ".."]).not.toContain(value);
        expect(value).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
      }),
    );
  });
});
