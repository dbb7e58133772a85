/** The one source of randomness of a chaos run: everything random comes from the seed. */
export interface Random {
  (): number;
  chance(probability: number): boolean;
  integer(min: number, maxInclusive: number): number;
  pick<Item>(items: readonly Item[]): Item;
}

/** mulberry32: small, fast and good enough for choosing faults; the same seed gives the same run. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
  const random = next as Random;
  random.chance = (probability) => next() < probability;
  random.integer = (min, maxInclusive) => min + Math.floor(next() * (maxInclusive - min + 1));
  random.pick = (items) => {
    const item = items[Math.floor(next() * items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  };
  return random;
}
