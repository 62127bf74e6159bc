import { hash } from "node:crypto";

/**
 * A record's payload in canonical form: object keys sorted (recursively), `undefined` members
 * dropped and `toJSON` applied as JSON.stringify would, bigints as strings, and NUL characters
 * (which Postgres jsonb refuses) replaced by U+FFFD. The same content therefore always gives the
 * same text, whatever the key order the platform sent, and the text is what is stored.
 * (A sorted copy serialised by the native JSON.stringify: about twice as fast as building the text
 * by hand, and this runs for every record of every page.)
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonical(value)) ?? "null";
}

/**
 * sha256 hex of the canonical JSON: equal hashes mean unchanged content. The one-shot
 * `crypto.hash` (no Hash object, no stream machinery) costs about half of createHash per record.
 */
export function contentHash(canonicalText: string): string {
  return hash("sha256", canonicalText, "hex");
}

const NUL = "\u0000";
const clean = (text: string) => (text.includes(NUL) ? text.replaceAll(NUL, "\uFFFD") : text);

function canonical(value: unknown): unknown {
  if (typeof value === "string") return clean(value);
  if (typeof value === "bigint") return value.toString();
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(canonical);
  const withJson = value as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === "function") return canonical(withJson.toJSON());
  const source = value as Record<string, unknown>;
  const keys = Object.keys(source);
  let sorted = true;
  for (let i = 1; i < keys.length; i++) {
    if ((keys[i - 1] as string) > (keys[i] as string)) {
      sorted = false;
      break;
    }
  }
  if (!sorted) keys.sort();
  // A plain literal, not Object.create(null): a null-prototype object is a dictionary-mode object
  // in V8, slower to build and to serialise (this copy is made for every record of every page).
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const name = clean(key);
    // A "__proto__" member of a payload stays a member (a plain assignment would set the prototype).
    if (name === "__proto__") {
      Object.defineProperty(out, name, {
        value: canonical(source[key]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else out[name] = canonical(source[key]);
  }
  return out;
}
