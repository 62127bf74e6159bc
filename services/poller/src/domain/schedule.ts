import { parseDurationMs } from "@syncwell/runtime";

/**
 * When a resource is due, how long a failing one waits, and whether a token and its scopes may be
 * used: pure functions of the configuration and the clock.
 */

/** Intervals by `platform.resource` or `platform` (the more specific key wins). */
export type IntervalMap = ReadonlyMap<string, number>;

const KEY = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)?$/;

/** Parses `POLL_INTERVALS`: `gmail.messages=15m,github=10m` (whitespace allowed around items). */
export function parseIntervals(
  raw: string,
): { ok: true; intervals: Map<string, number> } | { ok: false; error: string } {
  const intervals = new Map<string, number>();
  for (const item of raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = item.indexOf("=");
    const key = eq > 0 ? item.slice(0, eq).trim().toLowerCase() : "";
    if (!KEY.test(key)) return { ok: false, error: `"${item}" is not <platform>[.<resource>]=<duration>` };
    const ms = parseDurationMs(item.slice(eq + 1));
    if (ms === undefined || ms < 1_000)
      return { ok: false, error: `"${item}" needs a duration of at least 1s` };
    if (intervals.has(key)) return { ok: false, error: `"${key}" is listed twice` };
    intervals.set(key, ms);
  }
  return { ok: true, intervals };
}

export function intervalFor(
  intervals: IntervalMap,
  defaultMs: number,
  platform: string,
  resource: string,
): number {
  return intervals.get(`${platform}.${resource}`) ?? intervals.get(platform) ?? defaultMs;
}

/**
 * True when an access token may be used for a poll starting `now`: it never expires, or it stays
 * valid for more than `minValidityMs`.
 */
export function tokenUsable(
  token: { expiresAt: Date | null; expiresNever: boolean },
  now: number,
  minValidityMs: number,
): boolean {
  if (token.expiresNever) return true;
  if (token.expiresAt === null) return false;
  return token.expiresAt.getTime() - now > minValidityMs;
}

/**
 * True when a connection's scopes allow a resource: it needs none, or the connection has any of
 * them (the same rule in SQL, for creating and resuming sync states: `GRANTED_SQL`).
 */
export function grantsAnyOf(scopes: readonly string[], required: readonly string[]): boolean {
  return required.length === 0 || required.some((scope) => scopes.includes(scope));
}
