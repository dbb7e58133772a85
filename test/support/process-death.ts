/**
 * A process that dies mid-run, modelled at a port: a store call that never returns and writes
 * nothing, as when the instance is killed (maxDuration, a deploy, an out-of-memory) while the
 * call is in flight. Nothing after it in the run happens; the run's promise never settles, so a
 * test does not await it (see `untilDied`). A store that throws instead is a different thing: a
 * handler turns that into a retriable failure and the run goes on.
 */
import type { ProcessorStore } from "@/pipeline/processor-store-ports";

/**
 * The processor store with the process dying in `updateMessage`: in the delivery handler the
 * write that records what was sent, right after the email and the push went out. The first
 * `deaths` calls die (by default the first only); `died` resolves at the first, and `fired`
 * lists each death, for the test to assert that its fault fired.
 */
export function dyingAtMessageWrite(store: ProcessorStore, { deaths = 1 }: { deaths?: number } = {}) {
  const fired: string[] = [];
  let reached: () => void = () => undefined;
  const died = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const dying: ProcessorStore = {
    ...store,
    updateMessage: (messageId, patch) => {
      if (fired.length >= deaths) return store.updateMessage(messageId, patch);
      fired.push("updateMessage");
      reached();
      return new Promise<void>(() => {});
    },
  };
  return { store: dying, fired, died };
}

/** Returns once `run` has died (`died` resolved); fails if the run ends instead. */
export async function untilDied(run: Promise<unknown>, died: Promise<void>): Promise<void> {
  await Promise.race([
    died,
    run.then((result) => {
      throw new Error(`the run ended instead of dying: ${JSON.stringify(result)}`);
    }),
  ]);
}
