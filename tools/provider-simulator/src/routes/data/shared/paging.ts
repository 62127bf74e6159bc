import type { FastifyRequest } from "fastify";

export type IntParam = {
  name: string;
  default: number;
  min: number;
  max: number;
  /** Out of range: clamp (Google, GitHub) rather than answer 400 (Spotify, Discord). */
  clamp: boolean;
};

/** An integer query parameter; null when it is not an integer (or out of range and not clamped). */
export function intParam(query: URLSearchParams, spec: IntParam): number | null {
  const raw = query.get(spec.name);
  if (raw === null || raw === "") return spec.default;
  if (!/^-?\d{1,16}$/.test(raw)) return null;
  const value = Number(raw);
  if (value >= spec.min && value <= spec.max) return value;
  return spec.clamp ? Math.min(spec.max, Math.max(spec.min, value)) : null;
}

/**
 * Opaque cursors made the way Google makes its page and sync tokens: protocol-buffer varint fields
 * 1..n, base64url. YouTube's "CAUQAA" is exactly `{1: 5, 2: 0}` (offset 5, forwards).
 */
export function encodeToken(values: readonly number[]): string {
  const bytes: number[] = [];
  values.forEach((value, index) => {
    bytes.push((index + 1) << 3);
    let rest = Math.max(0, Math.floor(value));
    while (rest >= 0x80) {
      bytes.push((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    bytes.push(rest);
  });
  return Buffer.from(bytes).toString("base64url");
}

/** The `count` fields of a token from encodeToken, or null for anything else. */
export function decodeToken(token: string, count: number): number[] | null {
  const trimmed = token.replace(/=+$/, "");
  if (trimmed === "" || !/^[A-Za-z0-9_-]+$/.test(trimmed)) return null;
  const bytes = Buffer.from(trimmed, "base64url");
  const values: number[] = [];
  let i = 0;
  while (i < bytes.length) {
    const key = bytes[i] as number;
    i += 1;
    if ((key & 7) !== 0 || key >> 3 !== values.length + 1) return null;
    let value = 0;
    let scale = 1;
    let byte: number;
    do {
      if (i >= bytes.length || scale > 2 ** 49) return null;
      byte = bytes[i] as number;
      i += 1;
      value += (byte & 0x7f) * scale;
      scale *= 0x80;
    } while (byte & 0x80);
    values.push(value);
  }
  return values.length === count ? values : null;
}

/** An absolute URL on this simulator (for `next` links and Link headers a client follows as given). */
export function absoluteUrl(
  request: FastifyRequest,
  path: string,
  params: Record<string, string | number | undefined> = {},
): string {
  const url = new URL(path, `${request.protocol}://${request.host}`);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  return url.toString();
}

/** The request's own absolute URL (Spotify's `href`). */
export function requestUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}${request.url}`;
}

/**
 * RFC 8288 `Link` header as GitHub writes it (prev, next, last, first), keeping the request's
 * other query parameters; null for a single page.
 */
export function linkHeader(
  request: FastifyRequest,
  path: string,
  query: URLSearchParams,
  page: number,
  lastPage: number,
): string | null {
  const link = (target: number, rel: string): string => {
    const params = new URLSearchParams(query);
    params.set("page", String(target));
    return `<${absoluteUrl(request, path)}?${params.toString()}>; rel="${rel}"`;
  };
  const links: string[] = [];
  if (page > 1) links.push(link(Math.min(page - 1, lastPage), "prev"));
  if (page < lastPage) links.push(link(page + 1, "next"), link(lastPage, "last"));
  if (page > 1) links.push(link(1, "first"));
  return links.length === 0 ? null : links.join(", ");
}
