/**
 * Demo users and journals for `npm run dev`: 48 users over ten real IANA zones (with and without
 * DST, southern hemisphere, half-hour and 45-minute offsets), every frequency and time
 * preference, 2–10 journal entries each. Relative to the moment of seeding, about a quarter are
 * due now inside their window, a quarter due but outside it, a quarter unscheduled (null) and
 * a quarter scheduled later; a few have coaching switched off.
 */
import type { Firestore } from "firebase-admin/firestore";
import {
  FREQUENCIES,
  isInsideWindow,
  nextDueAfterSuccess,
  TIME_PREFERENCES,
  type TimePreference,
} from "../../src/core/schedule";

export const DEMO_ZONES = [
  "America/New_York",
  "Europe/London",
  "Australia/Sydney",
  "Asia/Kolkata",
  "Asia/Kathmandu",
  "Asia/Tokyo",
  "America/Los_Angeles",
  "America/Sao_Paulo",
  "Europe/Berlin",
  "Pacific/Auckland",
] as const;

const NAMES = [
  "Ada",
  "Bilal",
  "Chen",
  "Dara",
  "Elif",
  "Femi",
  "Greta",
  "Hiro",
  "Ines",
  "Jonas",
  "Kavya",
  "Luca",
  "Maya",
  "Nadia",
  "Omar",
  "Priya",
  "Quinn",
  "Rosa",
  "Sami",
  "Tara",
  "Umar",
  "Vera",
  "Wen",
  "Yara",
];

const ENTRIES = [
  "Slept badly again. I keep telling myself I'll put the phone away at ten and then it's midnight.",
  "Good run this morning — 5 km without stopping for the first time. I want to keep this going three times a week.",
  "Work was a blur of meetings. I didn't get to the proposal I promised myself I'd start.",
  "Called my sister after weeks of putting it off. It was easier than I thought. Why do I avoid these calls?",
  "Felt anxious before the presentation but it went fine. I over-prepare and then feel drained.",
  "Quiet Sunday. Read for two hours and cooked something new. I want more days like this.",
  "I snapped at a colleague today and I regret it. I think I was just tired and hungry.",
  "Started the budgeting spreadsheet. Scary numbers, but at least now I know.",
  "Meditated for ten minutes. My mind wandered constantly but I came back each time.",
  "Thinking about whether to apply for the team lead role. Part of me wants it, part of me is scared.",
  "Long walk by the river. Noticed I feel much calmer when I'm outside before noon.",
  "Didn't write yesterday. Today I'm just noting that I'm still here and still trying.",
];

/** A small deterministic PRNG, so the same seed always gives the same demo world. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface DemoUser {
  uid: string;
  document: Record<string, unknown>;
  entries: { id: string; content: string; createdAt: number; title?: string }[];
  state: "due-inside" | "due-outside" | "unscheduled" | "scheduled";
}

const MINUTE = 60_000;

export function buildDemoUsers({
  now,
  count = 48,
  seed = 7,
}: {
  now: number;
  count?: number;
  seed?: number;
}): DemoUser[] {
  const random = mulberry32(seed);
  const openZones = DEMO_ZONES.filter((timezone) =>
    TIME_PREFERENCES.some((preference) => isInsideWindow({ at: now, timezone, timePreference: preference })),
  );
  return Array.from({ length: count }, (_, index): DemoUser => {
    const frequency = FREQUENCIES[index % FREQUENCIES.length] ?? "daily";
    let state: DemoUser["state"] =
      (["due-inside", "due-outside", "unscheduled", "scheduled"] as const)[index % 4] ?? "scheduled";
    // Users meant to be due inside their window live in a zone where some window is open now.
    const candidates = state === "due-inside" ? openZones : DEMO_ZONES;
    if (candidates.length === 0) state = "due-outside";
    const zones = candidates.length === 0 ? DEMO_ZONES : candidates;
    const timezone = zones[index % zones.length] as string;
    const inside = TIME_PREFERENCES.filter((preference) =>
      isInsideWindow({ at: now, timezone, timePreference: preference }),
    );
    const outside = TIME_PREFERENCES.filter((preference) => !inside.includes(preference));

    let timePreference: TimePreference = TIME_PREFERENCES[Math.floor(index / 3) % 3] ?? "morning";
    if (state === "due-inside") timePreference = inside[index % inside.length] ?? timePreference;
    if (state === "due-outside") timePreference = outside[index % outside.length] ?? timePreference;

    const nextCoachingMessageDue =
      state === "due-inside" || state === "due-outside"
        ? now - Math.floor(random() * 120) * MINUTE - MINUTE
        : state === "unscheduled"
          ? null
          : nextDueAfterSuccess({ now, timezone, frequency, timePreference });

    const name = NAMES[index % NAMES.length] as string;
    const uid = `demo-${String(index + 1).padStart(2, "0")}`;
    const entryCount = 2 + Math.floor(random() * 9);
    const entries = Array.from({ length: entryCount }, (_, entryIndex) => ({
      id: `${uid}-entry-${String(entryIndex + 1).padStart(2, "0")}`,
      content: ENTRIES[Math.floor(random() * ENTRIES.length)] as string,
      createdAt: now - (entryCount - entryIndex) * Math.floor((14 * 24 * 60 * MINUTE) / entryCount),
      ...(entryIndex % 3 === 0 ? { title: `Day ${entryIndex + 1}` } : {}),
    }));

    return {
      uid,
      state,
      entries,
      document: {
        email: `${name.toLowerCase()}.${uid}@example.com`,
        displayName: name,
        timezone,
        coachingConfig: {
          // A few users have coaching switched off (never one meant to be due inside its window).
          enableCoachingMessages: state === "due-inside" || index % 11 !== 5,
          frequency,
          timePreference,
          ...(index % 9 === 0 ? { emailNotifications: false } : {}),
        },
        nextCoachingMessageDue,
      },
    };
  });
}

/** Writes the demo world; existing demo documents are replaced. */
export async function seedDemoData(db: Firestore, users: DemoUser[]): Promise<void> {
  let batch = db.batch();
  let size = 0;
  const flushIfFull = async () => {
    if (size >= 450) {
      await batch.commit();
      batch = db.batch();
      size = 0;
    }
  };
  for (const user of users) {
    const reference = db.collection("users").doc(user.uid);
    batch.set(reference, user.document);
    size += 1;
    for (const { id, ...entry } of user.entries) {
      batch.set(reference.collection("journalEntries").doc(id), entry);
      size += 1;
    }
    await flushIfFull();
  }
  if (size > 0) await batch.commit();
}
