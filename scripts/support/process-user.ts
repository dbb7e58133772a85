/**
 * One user's run in a single call, for the tests and the scripts (the bench, the eval, the
 * weeks simulation). Product code never needs it: the processor route does the same in two halves —
 * `acceptUserRun` before responding, `runClaimedSlot` after it (src/pipeline/process-user.ts).
 */
import {
  type AcceptResult,
  acceptUserRun,
  type ProcessOutcome,
  runClaimedSlot,
  type UserRunRequest,
} from "@/pipeline/process-user";

/**
 * Accepts the user's run (the re-checks and the fenced claim of their due slot) and, when the
 * slot was claimed, runs it to completion: the tests' and scripts' one-call form of what the
 * processor route does in two halves.
 */
export async function processUser(
  request: UserRunRequest,
): Promise<AcceptResult | { kind: "processed"; result: ProcessOutcome }> {
  const accepted = await acceptUserRun(request);
  if (accepted.kind !== "claimed") return accepted;
  const { deps, now } = request;
  return { kind: "processed", result: await runClaimedSlot({ deps, claim: accepted.claim, now }) };
}
