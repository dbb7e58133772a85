/**
 * The user document that the journaling app writes (docs/data-model.md), as the engine reads it.
 * The app owns every field but five the engine owns: `nextCoachingMessageDue` (once set),
 * `coachingDueRank`, `coachingParkedUntil`, `suspendUntil` and `coachingEnabled`.
 */
import { z } from "zod";
import { canonicalLocale } from "./locale";
import { FREQUENCIES, isValidTimezone, type ScheduleSettings, TIME_PREFERENCES } from "./schedule";

/** The furthest instant a JavaScript Date holds, either side of 1970 (±8.64e15 ms). */
export const MAX_INSTANT_MS = 8.64e15;

/**
 * Whether `value` is a time the engine can compute with: a finite number of milliseconds a Date
 * can hold. A number beyond that (1e300, ±Infinity) is not a time: Temporal and Intl throw on it.
 */
export function isInstant(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && Math.abs(value) <= MAX_INSTANT_MS;
}

const instantSchema = z.number().refine(isInstant, "is not a time (finite, within the range of a Date)");

export const coachingConfigSchema = z.object({
  enableCoachingMessages: z.boolean(),
  frequency: z.enum(FREQUENCIES),
  timePreference: z.enum(TIME_PREFERENCES),
  emailNotifications: z.boolean().optional(),
});

export const coachingUserSchema = z.object({
  email: z.string(),
  /** The app may write null for "no name"; that must not park the user as malformed. */
  displayName: z.string().nullish(),
  timezone: z.string().refine(isValidTimezone, "is not an IANA time zone"),
  coachingConfig: coachingConfigSchema,
  /**
   * Optional BCP 47 tag (src/core/locale.ts), canonicalised. The app's own field, but only a hint
   * for the message's language: junk reads as absent rather than parking the user as malformed.
   */
  locale: z
    .unknown()
    .transform((locale) => canonicalLocale(locale) ?? undefined)
    .optional(),
  /**
   * Engine-owned, so a value of another type (a Firestore Timestamp, a string) reads as absent:
   * the engine then schedules the user afresh instead of parking the document as malformed.
   */
  nextCoachingMessageDue: instantSchema.nullable().optional().catch(undefined),
  /**
   * Engine-owned: no processing before this instant (Unix ms). One beyond any date makes the
   * document malformed (reported and parked), never a suspension past every time.
   */
  suspendUntil: instantSchema.nullable().optional(),
  /** Engine-owned: equals the due time while that due time only parks a disabled or unreadable user. */
  coachingParkedUntil: instantSchema.nullable().optional().catch(undefined),
  /**
   * Engine-owned top-level mirror of `coachingConfig.enableCoachingMessages`, as the engine last
   * read it (written with the due times it writes), so the metrics can count enabled users with
   * an equality the emulator can prove too (it cannot filter on a nested field). Absent on a user
   * not looked at since the mirror exists; anything but a boolean reads as absent.
   */
  coachingEnabled: z.boolean().optional().catch(undefined),
});

export type CoachingConfig = z.infer<typeof coachingConfigSchema>;

export interface CoachingUser extends z.infer<typeof coachingUserSchema> {
  uid: string;
}

/**
 * A user document as a query returned it: parsed when it fits docs/data-model.md, otherwise the
 * reason it does not (a bad time zone, a malformed config), so one malformed document is
 * reported and parked instead of failing the whole run. A document with no coaching config at
 * all, or with coaching switched off, counts as disabled rather than malformed.
 */
export type UserSnapshot = {
  uid: string;
  nextCoachingMessageDue: number | null | undefined;
  /** Engine-owned `coachingDueRank`: the order inside a group of equal due times (core/due-rank.ts). */
  dueRank?: number;
} & ({ valid: true; user: CoachingUser } | { valid: false; enabled: boolean; problem: string });

function readDue(document: unknown): number | null | undefined {
  const due = (document as { nextCoachingMessageDue?: unknown } | null | undefined)?.nextCoachingMessageDue;
  // Beyond a Date's range reads as missing, like a value of another type: the sweep reschedules it.
  return isInstant(due) || due === null ? due : undefined;
}

function readRank(document: unknown): { dueRank?: number } {
  const rank = (document as { coachingDueRank?: unknown } | null | undefined)?.coachingDueRank;
  return typeof rank === "number" && Number.isFinite(rank) ? { dueRank: rank } : {};
}

export function parseUserDocument(uid: string, document: unknown): UserSnapshot {
  const nextCoachingMessageDue = readDue(document);
  const rank = readRank(document);
  const parsed = coachingUserSchema.safeParse(document);
  if (parsed.success)
    return { uid, nextCoachingMessageDue, ...rank, valid: true, user: { uid, ...parsed.data } };
  const config = (document as { coachingConfig?: { enableCoachingMessages?: unknown } } | null | undefined)
    ?.coachingConfig;
  return {
    uid,
    nextCoachingMessageDue,
    ...rank,
    valid: false,
    enabled: config?.enableCoachingMessages === true,
    problem: parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; "),
  };
}

/** Whether the user has asked for coaching messages, whatever else is wrong with the document. */
export function isCoachingEnabled(snapshot: UserSnapshot): boolean {
  return snapshot.valid ? snapshot.user.coachingConfig.enableCoachingMessages : snapshot.enabled;
}

export function scheduleSettingsOf(user: CoachingUser): ScheduleSettings {
  return {
    timezone: user.timezone,
    frequency: user.coachingConfig.frequency,
    timePreference: user.coachingConfig.timePreference,
  };
}
