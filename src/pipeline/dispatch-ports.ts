/**
 * How the scheduler starts work elsewhere without waiting for it: a processor call per due user,
 * and the next step of its chain. HTTP implementations sit in `adapters/`.
 */
import type { DueCursor } from "./scheduler-store-ports";

export type DispatchOutcome =
  | { ok: true; status: number }
  | {
      ok: false;
      retriable: boolean;
      reason: string;
      /**
       * The call was cut off (timed out or aborted) with no answer: the request may have reached
       * the processor and been accepted. Absent or false: the processor refused it, or it never left.
       */
      unconfirmed?: boolean;
    };

/** Starts processing of one user elsewhere, without waiting for the message to be written. */
export interface Dispatcher {
  /**
   * `signal` aborts the call at the scheduler step's deadline. A call aborted after its request
   * was sent may still have been accepted: harmless, as the processor is idempotent per slot.
   */
  dispatch(job: { userId: string; runId: string; signal?: AbortSignal }): Promise<DispatchOutcome>;
}

/** The next step of a scheduler chain: where it starts in the due order. */
export interface ChainContinuation {
  chainId: string;
  step: number;
  /** The last position the previous step handled; null to start from the first due user. */
  after: DueCursor | null;
  /** A paced chain: how many processor calls the chain has started in the current minute. */
  minuteShare?: MinuteShare | null;
}

/** Processor calls a paced chain started in one UTC minute, handed from a step to the next. */
export interface MinuteShare {
  /** Start of the UTC minute (Unix ms). */
  minute: number;
  dispatched: number;
}

/**
 * Starts the next step of a chain elsewhere (the scheduler route, through the same
 * authenticated path as a cron call) without waiting for it to finish.
 */
export interface ChainContinuer {
  continueChain(next: ChainContinuation): Promise<DispatchOutcome>;
}
