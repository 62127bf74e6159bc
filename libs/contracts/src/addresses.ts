/**
 * The bare, lowercased address in what a platform or a user writes: `ADA@Example.com`,
 * `"Ada Lovelace" <ada@example.com>`, `mailto:ada@example.com`. Null when there is none.
 * One rule for every service: the poller matches communication records to contacts by it, and the
 * health scorer stores contacts' emails by it, so an address written either way meets its contact.
 */
export function normalizeAddress(raw: string | null | undefined): string | null {
  if (typeof raw !== "string") return null;
  let value = raw.trim();
  const angle = /<([^<>]*)>\s*$/.exec(value);
  if (angle?.[1] !== undefined) value = angle[1].trim();
  if (value.toLowerCase().startsWith("mailto:")) value = value.slice(7);
  value = value.trim().toLowerCase();
  const at = value.lastIndexOf("@");
  if (at <= 0 || at === value.length - 1 || /\s/.test(value) || value.includes("\0") || value.length > 320) {
    return null;
  }
  return value;
}
