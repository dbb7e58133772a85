import { describe, expect, it } from "vitest";
import { needsCompositeIndex, queriesMissingIndexes, queriesOnUnindexedFields } from "./index-coverage";

const query = (
  filters: { field: string; op: string }[],
  orderBy: { field: string; direction: "ASCENDING" | "DESCENDING" }[] = [],
) => ({
  collectionGroup: "users",
  allDescendants: false,
  filters,
  orderBy,
  aggregation: false,
});

describe("index coverage check", () => {
  it.each([
    [
      "a range and an order on one field",
      query([{ field: "due", op: "<=" }], [{ field: "due", direction: "ASCENDING" }]),
      false,
    ],
    [
      "equalities on two fields",
      query([
        { field: "a", op: "==" },
        { field: "b", op: "in" },
      ]),
      false,
    ],
    [
      "an equality and a range on another field",
      query([
        { field: "status", op: "==" },
        { field: "due", op: "<=" },
      ]),
      true,
    ],
    [
      "an equality and an order on another field",
      query([{ field: "uid", op: "==" }], [{ field: "createdAt", direction: "DESCENDING" }]),
      true,
    ],
  ])("knows whether %s needs a composite index", (_name, shape, needed) => {
    expect(needsCompositeIndex(shape)).toBe(needed);
  });

  it("reports a composite query missing from the file and accepts it once declared", () => {
    const shape = query([{ field: "uid", op: "==" }], [{ field: "createdAt", direction: "DESCENDING" }]);
    expect(queriesMissingIndexes([shape], [])).toEqual([shape]);
    const declared = {
      collectionGroup: "users",
      queryScope: "COLLECTION" as const,
      fields: [
        { fieldPath: "uid", order: "ASCENDING" as const },
        { fieldPath: "createdAt", order: "DESCENDING" as const },
      ],
    };
    expect(queriesMissingIndexes([shape], [declared])).toEqual([]);
    expect(queriesMissingIndexes([shape], [{ ...declared, fields: [...declared.fields].reverse() }])).toEqual(
      [shape],
    );
  });

  describe("fields exempted from indexing", () => {
    const exemptCreatedAt = [{ collectionGroup: "users", fieldPath: "createdAt", indexes: [] }];

    it("reports a query that single-field indexes would serve on an exempted field", () => {
      const shape = query([{ field: "createdAt", op: "<" }]);
      expect(queriesMissingIndexes([shape], [], exemptCreatedAt)).toEqual([shape]);
      expect(queriesOnUnindexedFields([shape], exemptCreatedAt)).toEqual([shape]);
      expect(queriesMissingIndexes([shape], [], [])).toEqual([]);
    });

    it("accepts a query on an exempted field that its composite index serves", () => {
      const shape = query([{ field: "uid", op: "==" }], [{ field: "createdAt", direction: "DESCENDING" }]);
      const declared = {
        collectionGroup: "users",
        queryScope: "COLLECTION" as const,
        fields: [
          { fieldPath: "uid", order: "ASCENDING" as const },
          { fieldPath: "createdAt", order: "DESCENDING" as const },
        ],
      };
      expect(queriesMissingIndexes([shape], [declared], exemptCreatedAt)).toEqual([]);
      expect(queriesOnUnindexedFields([shape], exemptCreatedAt)).toEqual([]);
    });
  });
});
