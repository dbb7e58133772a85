import { normaliseEmailAddress, suppressionIdFor } from "@/core/email-address";
import type { Suppression, SuppressionList } from "@/pipeline/delivery-ports";

/** The suppression list in memory, for the simulations and unit tests; `suppress` adds to it. */
export function createMemorySuppressionList(): SuppressionList & {
  suppress(entry: Omit<Suppression, "id" | "address"> & { address: string }): void;
} {
  const byId = new Map<string, Suppression>();
  return {
    async find(address) {
      const found = byId.get(suppressionIdFor(address));
      return found ? structuredClone(found) : null;
    },
    suppress(entry) {
      const id = suppressionIdFor(entry.address);
      byId.set(id, { ...entry, id, address: normaliseEmailAddress(entry.address) });
    },
  };
}
