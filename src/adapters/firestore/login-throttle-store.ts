import "server-only";
import { createHash, randomInt } from "node:crypto";
import { type Firestore, Timestamp } from "firebase-admin/firestore";
import { LOGIN_THROTTLE_LIMITS, type LoginThrottleLimits, loginWindow } from "@/core/login-throttle";
import { COLLECTIONS } from "./collections";
import { createOnce } from "./create-once";
import { firestoreCall } from "./errors";

/**
 * What a guess counts against: a client address bucket (`loginThrottleBucket`), or, for the
 * holder of a valid known-device cookie, that device (the cookie's token) instead.
 */
export type LoginBucket = { kind: "address"; key: string } | { kind: "device"; key: string };

export type LoginAdmission =
  | { admitted: true }
  | { admitted: false; scope: LoginBucket["kind"] | "global"; retryAfterMs: number };

export interface LoginThrottle {
  /**
   * Takes one guess for `bucket` and, for an address, for the engine as a whole, or says how long
   * to wait. A known device takes one for its own bucket only: the global ceiling is what many
   * addresses can fill to lock everyone out, and its address may be forged or shared.
   */
  admit(input: { bucket: LoginBucket; now: number }): Promise<LoginAdmission>;
}

/** How long a spent window's documents are kept after it ends (for the TTL policy on `expiresAt`). */
const KEEP_AFTER_WINDOW_MS = 24 * 3_600_000;

/**
 * The sign-in throttle on Firestore, exact under any concurrency and without transactions:
 * guess n of a window is the `create()` of `${scope}_${windowStart}_${n}`, n ≤ the limit, and
 * exactly one caller creates each. A caller is refused only after finding every token of the
 * window taken, so a parallel burst gets the limit and not one guess more (a read-then-write
 * count would give every request of the burst the same "n"). Each caller starts at a random
 * token to spread the contention; the first to find all taken writes a `_full` marker that lets
 * later callers of that window stop after one read.
 */
export function createFirestoreLoginThrottle(
  db: Firestore,
  limits: LoginThrottleLimits = LOGIN_THROTTLE_LIMITS,
): LoginThrottle {
  const throttle = db.collection(COLLECTIONS.adminLoginThrottle);

  const claimGuess = async ({
    scope,
    limit,
    windowStart,
    now,
  }: {
    scope: string;
    limit: number;
    windowStart: number;
    now: number;
  }): Promise<boolean> => {
    const fields = {
      scope,
      windowStart,
      claimedAt: now,
      expiresAt: Timestamp.fromMillis(windowStart + limits.windowMs + KEEP_AFTER_WINDOW_MS),
    };
    const full = throttle.doc(`${scope}_${windowStart}_full`);
    if ((await firestoreCall("read sign-in throttle", () => full.get())).exists) return false;
    const first = randomInt(limit);
    for (let step = 0; step < limit; step += 1) {
      const token = ((first + step) % limit) + 1;
      const outcome = await createOnce("claim sign-in guess", () =>
        throttle.doc(`${scope}_${windowStart}_${token}`).create({ ...fields, token }),
      );
      if (outcome === "created") return true;
    }
    await firestoreCall("mark sign-in window spent", () => full.set(fields));
    return false;
  };

  return {
    async admit({ bucket, now }) {
      const window = loginWindow(now, limits.windowMs);
      const refused = (scope: LoginBucket["kind"] | "global"): LoginAdmission => ({
        admitted: false,
        scope,
        retryAfterMs: window.end - now,
      });
      // Addresses and device tokens are stored hashed: the throttle needs to tell them apart,
      // not to know them.
      const scope = `${bucket.kind}-${createHash("sha256").update(bucket.key).digest("hex").slice(0, 32)}`;
      const limit = bucket.kind === "device" ? limits.perDevice : limits.perAddress;
      // The bucket's budget first, so one noisy address cannot spend the global one.
      if (!(await claimGuess({ scope, limit, windowStart: window.start, now }))) return refused(bucket.kind);
      if (bucket.kind === "device") return { admitted: true };
      if (!(await claimGuess({ scope: "global", limit: limits.global, windowStart: window.start, now })))
        return refused("global");
      return { admitted: true };
    },
  };
}
