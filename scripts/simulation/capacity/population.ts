/**
 * Who the simulated users are: zones, frequencies and time preferences, drawn from a seeded
 * random source into typed arrays (one byte per user and attribute), so 1,000,000 users cost a
 * few megabytes here.
 */
import { FREQUENCIES, type Frequency, TIME_PREFERENCES, type TimePreference } from "@/core/schedule";

/** A deterministic source of numbers in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface WeightedZone {
  zone: string;
  weight: number;
}

/**
 * `skewed`: where the users of an English-language journaling app live. About half in the four
 * US zones, split as the US population is (Eastern 47 %, Central 29 %, Mountain 7 %, Pacific
 * 17 %); a quarter in Europe, led by the UK and Ireland, then the large English-reading markets
 * on Central European time; the rest in Asia-Pacific (India, Australia, the Philippines,
 * Singapore, Japan, New Zealand) and South America (Brazil, Argentina, Colombia). What makes it
 * hard for the scheduler is the US East: nearly a quarter of all users share one zone, so their
 * morning target hour is one instant.
 */
export const SKEWED_ZONES: readonly WeightedZone[] = [
  { zone: "America/New_York", weight: 23.5 },
  { zone: "America/Chicago", weight: 14.5 },
  { zone: "America/Denver", weight: 3.5 },
  { zone: "America/Los_Angeles", weight: 8.5 },
  { zone: "Europe/London", weight: 11 },
  { zone: "Europe/Berlin", weight: 5 },
  { zone: "Europe/Paris", weight: 3 },
  { zone: "Europe/Madrid", weight: 2 },
  { zone: "Europe/Stockholm", weight: 2 },
  { zone: "Europe/Athens", weight: 2 },
  { zone: "Asia/Kolkata", weight: 6 },
  { zone: "Australia/Sydney", weight: 4 },
  { zone: "Asia/Manila", weight: 3 },
  { zone: "Asia/Singapore", weight: 2 },
  { zone: "Asia/Tokyo", weight: 1 },
  { zone: "Pacific/Auckland", weight: 1 },
  { zone: "America/Sao_Paulo", weight: 4 },
  { zone: "America/Argentina/Buenos_Aires", weight: 2 },
  { zone: "America/Bogota", weight: 2 },
];

/** `even`: one zone per whole-hour UTC offset from −11 to +12, equally weighted. */
export const EVEN_ZONES: readonly WeightedZone[] = Array.from({ length: 24 }, (_, index) => {
  const offset = index - 11;
  // Etc/GMT signs are inverted: Etc/GMT-5 is UTC+5.
  const zone = offset === 0 ? "Etc/GMT" : `Etc/GMT${offset > 0 ? "-" : "+"}${Math.abs(offset)}`;
  return { zone, weight: 1 };
});

export type FrequencyChoice = Frequency | "mixed";
export type PreferenceChoice = TimePreference | "mixed";

/** `mixed` frequencies: most users of a daily journal ask for daily messages. */
export const MIXED_FREQUENCIES: Readonly<Record<Frequency, number>> = {
  daily: 0.5,
  multipleTimesPerWeek: 0.3,
  onceAWeek: 0.2,
};

/** `mixed` preferences: mornings first, as in journaling apps' reminder settings. */
export const MIXED_PREFERENCES: Readonly<Record<TimePreference, number>> = {
  morning: 0.5,
  afternoon: 0.2,
  evening: 0.3,
};

export function zonesFor(choice: string): readonly WeightedZone[] {
  if (choice === "skewed") return SKEWED_ZONES;
  if (choice === "even") return EVEN_ZONES;
  return [{ zone: choice, weight: 1 }];
}

export interface Population {
  size: number;
  zones: readonly string[];
  /** Per user: index into `zones`, into FREQUENCIES, into TIME_PREFERENCES. */
  zoneOf: Uint8Array;
  frequencyOf: Uint8Array;
  preferenceOf: Uint8Array;
}

function pickWeighted(weights: readonly number[], random: () => number): number {
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  let remaining = random() * total;
  for (let index = 0; index < weights.length; index += 1) {
    remaining -= weights[index] as number;
    if (remaining < 0) return index;
  }
  return weights.length - 1;
}

export function createPopulation({
  size,
  zones,
  frequency,
  preference,
  random,
}: {
  size: number;
  zones: readonly WeightedZone[];
  frequency: FrequencyChoice;
  preference: PreferenceChoice;
  random: () => number;
}): Population {
  const zoneWeights = zones.map((zone) => zone.weight);
  const frequencyWeights = FREQUENCIES.map((value) =>
    frequency === "mixed" ? MIXED_FREQUENCIES[value] : value === frequency ? 1 : 0,
  );
  const preferenceWeights = TIME_PREFERENCES.map((value) =>
    preference === "mixed" ? MIXED_PREFERENCES[value] : value === preference ? 1 : 0,
  );
  const population: Population = {
    size,
    zones: zones.map((zone) => zone.zone),
    zoneOf: new Uint8Array(size),
    frequencyOf: new Uint8Array(size),
    preferenceOf: new Uint8Array(size),
  };
  for (let user = 0; user < size; user += 1) {
    population.zoneOf[user] = pickWeighted(zoneWeights, random);
    population.frequencyOf[user] = pickWeighted(frequencyWeights, random);
    population.preferenceOf[user] = pickWeighted(preferenceWeights, random);
  }
  return population;
}

/** Document ids sort as the user indexes do, as Firestore orders ties. */
export function uidOf(user: number): string {
  return `u${String(user).padStart(7, "0")}`;
}

export function userOf(uid: string): number {
  return Number(uid.slice(1));
}
