/**
 * Limits fixed by the routes themselves (their `maxDuration`) and the margins derived from them.
 * The settings' schemas check the environment against these, so a deployment cannot configure a
 * run longer than its route may live.
 */

/**
 * The processor route's `maxDuration` (seconds). Next.js needs that export to be a literal in the
 * route file, so it is repeated there; a test checks the two agree.
 */
export const PROCESSOR_MAX_DURATION_SECONDS = 300;

/** Time a processor run needs besides its LLM calls: Firestore reads and writes, the delivery after. */
export const PROCESSOR_NON_LLM_MARGIN_MS = 60_000;

/**
 * The scheduler route's `maxDuration` (seconds), repeated as a literal in the route file (a test
 * checks the two agree). A chain step's claim outlasts it (twice over, for clock skew between
 * instances), so a step still holding its claim is alive, and one past it died.
 */
export const SCHEDULER_MAX_DURATION_SECONDS = 60;

/**
 * No step of an hour's scheduler chain starts after this minute of the hour: a step started then
 * ends within the route's maxDuration, before the next hour's chain starts (checked).
 */
export const SCHEDULER_CHAIN_LAST_START_MINUTE = 55;

/**
 * Time left after a scheduler step's budget for its last writes (the step's claim and summary):
 * a step must end within the route's maxDuration, or it is killed before it records its work.
 */
export const SCHEDULER_STEP_MARGIN_MS = 5_000;

/**
 * The outbox drain route's (`/api/events/process-batch`) `maxDuration` (seconds), repeated as a
 * literal in the route file and vercel.json (a test checks they agree).
 */
export const EVENTS_MAX_DURATION_SECONDS = 60;

/** How long a drain waits for its continuation call to be accepted (the route answers 202 at once). */
export const EVENT_CONTINUATION_TIMEOUT_MS = 5_000;

/** Kept free at the end of a drain for the last writes of the events in flight. */
export const EVENT_DRAIN_MARGIN_MS = 5_000;

/**
 * Time from a drain's start by which every handler it runs must have ended: the route's
 * maxDuration less the continuation call and the last writes (50 s). The insights handler starts
 * no LLM call that could outlast it.
 */
export const EVENT_HANDLER_DEADLINE_MS =
  EVENTS_MAX_DURATION_SECONDS * 1_000 - EVENT_CONTINUATION_TIMEOUT_MS - EVENT_DRAIN_MARGIN_MS;
