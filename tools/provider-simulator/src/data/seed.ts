/**
 * Deterministic randomness for generated datasets: the same seed gives the same data on every run
 * (and again after an evicted dataset is regenerated), so tests can rely on it and benchmarks are
 * repeatable. Not for anything secret.
 */

/** FNV-1a over the parts (joined with a separator): a 32-bit seed from strings and numbers. */
export function hashSeed(...parts: ReadonlyArray<string | number>): number {
  let hash = 0x811c9dc5;
  const text = parts.join("\u0000");
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export type Rng = {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  /** Integer in [min, max]. */
  between(min: number, max: number): number;
  chance(probability: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** `length` characters drawn from `alphabet`. */
  string(alphabet: string, length: number): string;
};

/** mulberry32: tiny, fast and good enough for fake data. */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (maxExclusive: number): number => Math.floor(next() * maxExclusive);
  return {
    next,
    int,
    between: (min, max) => min + int(max - min + 1),
    chance: (probability) => next() < probability,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new RangeError("pick from an empty list");
      return items[int(items.length)] as T;
    },
    // From character codes, not `+=`: a string built char by char stays a rope of one V8 node per
    // character, so every cached id would hold a node per character across thousands of cached
    // datasets; and fromCharCode is faster than joining an array of one-character strings.
    string: (alphabet, length) => {
      const codes = new Array<number>(length);
      for (let i = 0; i < length; i += 1) codes[i] = alphabet.charCodeAt(int(alphabet.length));
      return String.fromCharCode(...codes);
    },
  };
}

export const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export const BASE64URL = `${BASE62}-_`;
export const HEX = "0123456789abcdef";
/** Google Calendar event ids use base32hex (RFC 4648 §7), lower case. */
export const BASE32HEX = "0123456789abcdefghijklmnopqrstuv";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/**
 * `count` strictly increasing times ending no later than `end`, with random gaps between
 * `minGap` and `maxGap` ms: the timeline of an initial dataset, oldest first.
 */
export function timeline(rng: Rng, count: number, end: number, minGap: number, maxGap: number): number[] {
  const times = new Array<number>(count);
  let t = end - rng.between(0, minGap);
  for (let i = count - 1; i >= 0; i -= 1) {
    times[i] = t;
    t -= rng.between(minGap, maxGap);
  }
  return times;
}
