/** Every collection the engine reads or writes, in one place. */
export const COLLECTIONS = {
  /** Written by the journaling app; the engine owns only `nextCoachingMessageDue`. */
  users: "users",
  /** One summary per scheduler run, id `<ISO start>_<random>` so ids sort by time. */
  schedulerRuns: "schedulerRuns",
} as const;

/** The top-level user field that drives every scheduling query. */
export const DUE_FIELD = "nextCoachingMessageDue";
