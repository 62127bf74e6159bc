/**
 * A record's payload as the JSON text stored in its jsonb column: what `JSON.stringify` makes of
 * it (`undefined` members dropped, `toJSON` applied, non-finite numbers as null), with bigints as
 * strings and NUL characters — which jsonb refuses — replaced by U+FFFD.
 *
 * Key order does not matter here: jsonb keeps its own, and the content hash is computed by Postgres
 * from the jsonb (see `contentHashSql`), so the same content always has the same hash. The native
 * serializer does the work; only a payload that needs it (a NUL, a bigint) takes the slow path.
 */
export function payloadJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    // A bigint, which JSON.stringify refuses (a cycle throws its TypeError again here).
    text = JSON.stringify(value, (_key, member: unknown) =>
      typeof member === "bigint" ? member.toString() : member,
    );
  }
  if (text === undefined) return "null";
  // "\u0000" in the text is either a NUL character or an escaped backslash followed by "u0000":
  // rare enough that both take the slow path, which tells them apart.
  return text.includes("\\u0000") ? (JSON.stringify(cleaned(value)) ?? "null") : text;
}

const NUL = "\u0000";
const clean = (text: string) => (text.includes(NUL) ? text.replaceAll(NUL, "\uFFFD") : text);

/** A copy with NULs replaced in strings and keys, and bigints as strings. */
function cleaned(value: unknown): unknown {
  if (typeof value === "string") return clean(value);
  if (typeof value === "bigint") return value.toString();
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(cleaned);
  const withJson = value as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === "function") return cleaned(withJson.toJSON());
  const out: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    // A "__proto__" member of a payload stays a member (a plain assignment would set the prototype).
    Object.defineProperty(out, clean(key), {
      value: cleaned(member),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
