/**
 * E-mail address-list headers (Gmail's From/To/Cc) as addresses. Pure functions, no I/O.
 */

/**
 * The addresses of an address-list header (`To`, `Cc`, `From`), in order, without duplicates
 * (compared case-insensitively; the first spelling is kept, since the platform's case is kept).
 *
 * Tolerant by design: real headers are often not valid RFC 5322 (unquoted dots or commas in
 * display names, raw UTF-8 names), and a strict grammar would reject the whole header for one odd
 * entry. So this splits at top-level commas (not inside quotes, `<…>` or comments), understands
 * `Name <a@b>`, `"Last, First" <a@b>`, bare `a@b`, `a@b (comment)` and groups
 * (`Team: a@b, c@d;`), and skips entries without an address.
 */
export function parseAddressList(header: string | null | undefined): string[] {
  if (header === null || header === undefined) return [];
  const out: string[] = [];
  const seen = new Set<string>();
  for (const entry of splitAddressList(header)) {
    const address = mailboxAddress(entry);
    if (address === null) continue;
    const key = address.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(address);
  }
  return out;
}

/** The first address of a header (`From`), or null when it holds none. */
export function parseAddress(header: string | null | undefined): string | null {
  return parseAddressList(header)[0] ?? null;
}

/** Splits at commas (and group delimiters) outside quoted strings, angle brackets and comments. */
function splitAddressList(header: string): string[] {
  const entries: string[] = [];
  let current = "";
  let quoted = false;
  let angle = false;
  let comment = 0;
  for (let i = 0; i < header.length; i += 1) {
    const ch = header.charAt(i);
    if (ch === "\\" && (quoted || comment > 0) && i + 1 < header.length) {
      current += ch + header.charAt(i + 1);
      i += 1;
      continue;
    }
    if (quoted) {
      if (ch === '"') quoted = false;
      current += ch;
    } else if (comment > 0) {
      if (ch === "(") comment += 1;
      else if (ch === ")") comment -= 1;
      current += ch;
    } else if (angle) {
      if (ch === ">") angle = false;
      current += ch;
    } else if (ch === '"') {
      quoted = true;
      current += ch;
    } else if (ch === "(") {
      comment = 1;
      current += ch;
    } else if (ch === "<") {
      angle = true;
      current += ch;
    } else if (ch === ":") {
      // `Group name: a@b, c@d;` — the group's name is not an address.
      current = "";
    } else if (ch === "," || ch === ";") {
      entries.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  entries.push(current);
  return entries;
}

const ADDR_SPEC = /^(?:"[^"]*"|[^\s"<>@(),;:]+)@[^\s"<>@(),;:]+$/;

/** The address of one mailbox (`Name <a@b>`, `a@b`, `a@b (Name)`), or null when it has none. */
function mailboxAddress(entry: string): string | null {
  const text = stripComments(entry).trim();
  if (text === "") return null;
  const open = lastUnquoted(text, "<");
  if (open !== -1) {
    const close = text.indexOf(">", open);
    let inner = text.slice(open + 1, close === -1 ? undefined : close).trim();
    // Obsolete source route (`<@relay:a@b>`): the address follows the last colon.
    const colon = inner.lastIndexOf(":");
    if (inner.startsWith("@") && colon !== -1) inner = inner.slice(colon + 1);
    return ADDR_SPEC.test(inner) ? inner : null;
  }
  return ADDR_SPEC.test(text) ? text : null;
}

function stripComments(text: string): string {
  let out = "";
  let quoted = false;
  let depth = 0;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text.charAt(i);
    if (ch === "\\" && (quoted || depth > 0)) {
      if (depth === 0) out += ch + text.charAt(i + 1);
      i += 1;
    } else if (depth > 0) {
      if (ch === "(") depth += 1;
      else if (ch === ")") depth -= 1;
    } else if (ch === '"') {
      quoted = !quoted;
      out += ch;
    } else if (ch === "(" && !quoted) {
      depth = 1;
      out += " ";
    } else {
      out += ch;
    }
  }
  return out;
}

/** Index of the last `char` outside a quoted string, or -1. */
function lastUnquoted(text: string, char: string): number {
  let quoted = false;
  let found = -1;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text.charAt(i);
    if (ch === "\\" && quoted) i += 1;
    else if (ch === '"') quoted = !quoted;
    else if (ch === char && !quoted) found = i;
  }
  return found;
}
