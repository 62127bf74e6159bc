/**
 * Parsing shared by the connectors: payload validation with a precise reason, RFC 8288 Link
 * headers (GitHub pagination) and the connectors' own resumable page tokens. Pure functions, no
 * I/O. (Gmail's address lists are read by `@syncwell/communication`, with the other rules of who
 * a message involves.)
 */
import type { z } from "zod";
import type { SkippedItem } from "./connector.ts";
import { malformed } from "./errors.ts";

// --- payloads ---------------------------------------------------------------------------------

/**
 * Validates a platform payload against what the API documents, or throws `malformed(what, reason)`
 * naming the first offending field and, inside a list, the item's index and id:
 * `items[3] (id "abc").track.id: Invalid input: expected string, received undefined`.
 *
 * Returns the value itself, not zod's copy: a stored payload keeps every field the platform sent,
 * and no page is copied on the way. So the connectors' schemas only check — plain `z.object`s
 * (which let unknown fields through here, and are several times faster than `z.looseObject`), with
 * no transforms, defaults or coercions, whose results would be dropped.
 */
export function parsePayload<S extends z.ZodType>(schema: S, value: unknown, what: string): z.input<S> {
  const result = schema.safeParse(value);
  if (result.success) return value as z.input<S>;
  const issue = result.error.issues[0];
  if (issue === undefined) throw malformed(what, "does not match the documented shape");
  const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more)` : "";
  throw malformed(what, `${describePath(value, issue.path)}: ${issue.message}${more}`);
}

/**
 * Validates the items of a list one by one: the platform's values that match `schema` (as-is, as
 * `parsePayload` returns them), and a `SkippedItem` for each one that does not, naming the first
 * offending field. So one item the connector cannot use never fails its page; what the page as a
 * whole needs (its cursor, its page token) is checked with `parsePayload`.
 */
export function parseItems<S extends z.ZodType>(
  schema: S,
  items: readonly unknown[],
  idOf: (item: unknown) => string | null = itemId,
): { items: Array<z.input<S>>; skipped: SkippedItem[] } {
  const valid: Array<z.input<S>> = [];
  const skipped: SkippedItem[] = [];
  for (const item of items) {
    const result = schema.safeParse(item);
    if (result.success) valid.push(item as z.input<S>);
    else skipped.push({ id: idOf(item), reason: issueReason(result.error.issues[0]) });
  }
  return { items: valid, skipped };
}

/**
 * A skip reason from a validation issue: the field's path with list positions folded
 * (`payload.headers[].name`) and zod's message, which never quotes the value. Bounded by the
 * schema, so it can label a metric.
 */
export function issueReason(issue: z.core.$ZodIssue | undefined): string {
  if (issue === undefined) return "(item): does not match";
  let path = "";
  for (const key of issue.path) {
    if (typeof key === "number") path += "[]";
    else path += path === "" ? String(key) : `.${String(key)}`;
  }
  return `${path === "" ? "(item)" : path}: ${issue.message}`;
}

/** The item's `id` when it is a string or number: what names it in a log line. */
export function itemId(item: unknown): string | null {
  const id = isRecord(item) ? item.id : undefined;
  if (typeof id === "number" && Number.isFinite(id)) return String(id);
  return typeof id === "string" && id !== "" ? id.slice(0, 200) : null;
}

/** `items[3] (id "abc").track.id`; `(root)` for the value itself. */
function describePath(root: unknown, path: readonly PropertyKey[]): string {
  let out = "";
  let node: unknown = root;
  for (const key of path) {
    node = isRecord(node) || Array.isArray(node) ? (node as Record<PropertyKey, unknown>)[key] : undefined;
    if (typeof key === "number") {
      out += `[${key}]`;
      // Point at the item the way the platform names it, not only by position.
      const id = isRecord(node) ? node.id : undefined;
      if (typeof id === "string" || typeof id === "number") out += ` (id ${JSON.stringify(String(id))})`;
    } else {
      out += out === "" ? String(key) : `.${String(key)}`;
    }
  }
  return out === "" ? "(root)" : out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// --- Link headers -----------------------------------------------------------------------------

/** RFC 8288 `Link` header → URL by relation (`next`, `last`, …); a link with `rel="next last"` counts for both. */
export function parseLinkHeader(header: string | null | undefined): Map<string, string> {
  const links = new Map<string, string>();
  if (header === null || header === undefined) return links;
  for (const match of header.matchAll(/<([^>]*)>((?:\s*;\s*[^;,]+)*)/g)) {
    const url = match[1] ?? "";
    const rel = /(?:^|;)\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))/i.exec(match[2] ?? "");
    const rels = (rel?.[1] ?? rel?.[2] ?? "").trim();
    for (const name of rels.split(/\s+/)) {
      if (name !== "" && !links.has(name.toLowerCase())) links.set(name.toLowerCase(), url);
    }
  }
  return links;
}

/**
 * The value of query parameter `param` in the `rel="next"` link, or null on the last page. Only
 * the parameter is taken (not the URL), so the request stays relative to the configured base URL.
 */
export function nextLinkParam(headers: Headers, param: string): string | null {
  const next = parseLinkHeader(headers.get("link")).get("next");
  if (next === undefined) return null;
  try {
    return new URL(next, "http://link.invalid").searchParams.get(param);
  } catch {
    return null;
  }
}

// --- page tokens ------------------------------------------------------------------------------

/**
 * Connectors that must carry more than the platform's page token from one page of a poll to the
 * next (the historyId taken before a Gmail full sync, the ETag of GitHub's first page) keep it in
 * the engine's opaque `pageToken` as base64url JSON.
 */
export function encodeState(state: Record<string, string | number | null>): string {
  return Buffer.from(JSON.stringify(state), "utf8").toString("base64url");
}

/**
 * Reads a token written by `encodeState`. Null for no token, and also for one that is unreadable
 * (e.g. written by an older version): the poll then starts again from its first page, which is
 * always safe because records are stored idempotently.
 */
export function decodeState<S extends z.ZodType>(schema: S, token: string | null): z.output<S> | null {
  if (token === null) return null;
  try {
    const result = schema.safeParse(JSON.parse(Buffer.from(token, "base64url").toString("utf8")));
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}
