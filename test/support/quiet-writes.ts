/**
 * The emulator's write count once it has stopped moving: work a route keeps doing after its
 * response (`after()`: the metrics rollup, the alert evaluation, a delivery) lands at its own pace,
 * so a "nothing written" check waits it out before and after the request it is about.
 */
export async function quietWrites(
  count: () => number,
  { settleMs = 300, maxChecks = 100 } = {},
): Promise<number> {
  let last = count();
  for (let check = 0; check < maxChecks; check += 1) {
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const now = count();
    if (now === last) return now;
    last = now;
  }
  throw new Error("the emulator never stopped being written to");
}
