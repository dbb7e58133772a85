/**
 * Fault injection at the port boundary: generic wrappers around any port object (a store, the
 * breaker, the mailer), never branches in product code.
 *
 * A simulated *process* (one scheduler tick, one processor invocation, one outbox run) holds its
 * own wrapped ports. When a wrapper "kills" the process it throws `Crash` and marks the process
 * dead; from then on every call through that process's ports throws `Crash` without applying, so
 * whatever `catch` the product code has, nothing more of that process reaches the world — the
 * run stops and its leases stay, as when a serverless function is killed.
 */
import { AppError } from "@/core/errors";

/** The process stopped here (killed, out of time, out of memory); not an error the code can handle. */
export class Crash extends Error {
  constructor(where: string) {
    super(`process died at ${where}`);
    this.name = "Crash";
  }
}

export function isCrash(error: unknown): boolean {
  return error instanceof Crash;
}

/** What a wrapper does to one call. */
export type PortFault =
  /** The call fails and nothing is written (Firestore unavailable). */
  | "fail_before"
  /** The call is applied, then the caller sees a failure (a timeout after the commit). */
  | "applied_then_fail"
  /** The process dies before the call. */
  | "crash_before"
  /** The call is applied, then the process dies before it sees the answer. */
  | "crash_after";

export const PORT_FAULTS: readonly PortFault[] = [
  "fail_before",
  "applied_then_fail",
  "crash_before",
  "crash_after",
];

export interface SimulatedProcess {
  readonly label: string;
  alive: boolean;
  /** Where it died, once dead. */
  diedAt: string | null;
}

export function newProcess(label: string): SimulatedProcess {
  return { label, alive: true, diedAt: null };
}

/** Decides the fault (or none) for one call; the harness counts and traces what it returns. */
export type FaultDecider = (call: {
  port: string;
  method: string;
  process: SimulatedProcess;
  /** The id the call is about (an event, slot, message or user), for the trace. */
  subject: string | null;
}) => PortFault | null;

/** The id a store call is about: a string first argument, or the id field of an object one. */
function callSubject(args: readonly unknown[]): string | null {
  const [first] = args;
  if (typeof first === "string") return first;
  if (typeof first !== "object" || first === null) return null;
  const fields = first as Record<string, unknown>;
  for (const key of ["eventId", "slotId", "id", "uid"]) {
    const value = fields[key];
    if (typeof value === "string") return value;
  }
  return null;
}

function storeFailure(where: string, applied: boolean): AppError {
  return new AppError(
    "unavailable:firestore",
    `Firestore ${where} failed: ${applied ? "DEADLINE_EXCEEDED (the call was applied)" : "UNAVAILABLE"}`,
  );
}

/**
 * The same port with faults injected into every method call. Properties that are not functions
 * (`generationModel`...) pass through.
 */
export function wrapPort<Port extends object>(
  port: Port,
  { name, process, decide }: { name: string; process: SimulatedProcess; decide: FaultDecider },
): Port {
  const wrapped: Record<string, unknown> = {};
  for (const key of Object.keys(port) as (keyof Port & string)[]) {
    const member = port[key];
    if (typeof member !== "function") {
      wrapped[key] = member;
      continue;
    }
    const where = `${name}.${key}`;
    wrapped[key] = async (...args: unknown[]) => {
      if (!process.alive) throw new Crash(`${where} (already dead at ${process.diedAt})`);
      const fault = decide({ port: name, method: key, process, subject: callSubject(args) });
      const die = () => {
        process.alive = false;
        process.diedAt = where;
        return new Crash(where);
      };
      if (fault === "crash_before") throw die();
      if (fault === "fail_before") throw storeFailure(where, false);
      const result = await (member as (...callArgs: unknown[]) => Promise<unknown>).apply(port, args);
      if (fault === "crash_after") throw die();
      if (fault === "applied_then_fail") throw storeFailure(where, true);
      return result;
    };
  }
  return wrapped as Port;
}
