/**
 * Parses `name=number` lists such as `HEALTH_DEAL_STAGE_DAYS="lead=14,qualified=21"` or
 * `HEALTH_CONTACT_WEIGHTS="recency=0.4,ghostRisk=0.2"`: comma-separated, whitespace allowed around
 * items, names, `=` and numbers, an empty list allowed.
 */

export type NamedNumbersOptions = {
  /** The only names allowed, matched without case and returned as spelled here; absent: any name. */
  names?: readonly string[];
  /** How a free name is stored (e.g. lowercased); names must then match `/^[a-z0-9][a-z0-9 _.-]*$/i`. */
  key?: (name: string) => string;
  /** Numbers must be above 0 (true) or at least 0 (false). */
  positive: boolean;
};

export type NamedNumbers = { ok: true; values: Map<string, number> } | { ok: false; error: string };

const FREE_NAME = /^[a-z0-9][a-z0-9 _.-]*$/i;
const NUMBER = /^\d+(\.\d+)?$/;

export function parseNamedNumbers(raw: string, options: NamedNumbersOptions): NamedNumbers {
  const values = new Map<string, number>();
  const items = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    const eq = item.indexOf("=");
    const rawName = eq > 0 ? item.slice(0, eq).trim() : "";
    const name = nameOf(rawName, options);
    if (name === undefined) {
      const allowed = options.names ? `, one of ${options.names.join(", ")}` : "";
      return { ok: false, error: `"${item}" is not <name>=<number>${allowed}` };
    }
    const text = item.slice(eq + 1).trim();
    const n = Number(text);
    if (!NUMBER.test(text) || (options.positive && n <= 0)) {
      return {
        ok: false,
        error: `"${item}" needs a number ${options.positive ? "above 0" : "of 0 or more"}`,
      };
    }
    if (values.has(name)) return { ok: false, error: `"${name}" is listed twice` };
    values.set(name, n);
  }
  return { ok: true, values };
}

function nameOf(raw: string, options: NamedNumbersOptions): string | undefined {
  if (options.names) return options.names.find((n) => n.toLowerCase() === raw.toLowerCase());
  if (!FREE_NAME.test(raw)) return undefined;
  return options.key ? options.key(raw) : raw;
}
