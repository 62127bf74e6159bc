/**
 * Postgres array literals built as text (`{1,2}`, `{"a","b"}`), for statements that take a batch's
 * rows as columns: `unnest($1::int[], $2::text[], …)`. node-postgres quotes and escapes every
 * element of an array parameter, numbers included, with two regular expressions and a string per
 * piece; writers of large batches build the literal themselves (docs/decisions/0004, 0017).
 */

/**
 * `open + texts.join(separator) + close` as one flat string. The obvious template literal is a
 * rope of three parts, which node-postgres flattens — copies, into a freshly allocated string as
 * large as the batch (hundreds of kB) — when it measures the parameter's bytes; a flat string is
 * measured as it is. (Takes over `texts`: its first and last elements get `open`/`close`.)
 */
export function joinFlat(
  texts: Array<string | number>,
  separator: string,
  open: string,
  close: string,
): string {
  if (texts.length === 0) return open + close;
  texts[0] = `${open}${texts[0]}`;
  texts[texts.length - 1] = `${texts[texts.length - 1]}${close}`;
  return texts.join(separator);
}

/**
 * Columns of rows as array literals, one per column. Values go in as they are written in the
 * literal: numbers, uuids, `NULL`, the fixed words of an enumeration, or `quoted()` text.
 */
export class ColumnsText {
  private readonly columns: Array<Array<string | number>>;

  constructor(width: number) {
    this.columns = Array.from({ length: width }, () => []);
  }

  row(...values: Array<string | number>): void {
    values.forEach((value, i) => {
      (this.columns[i] as Array<string | number>).push(value);
    });
  }

  arrays(): string[] {
    return this.columns.map((column) => joinFlat(column, ",", "{", "}"));
  }
}

/** Text as an element of an array literal: in double quotes, with `"` and `\` escaped. */
export function quoted(text: string): string {
  return `"${/["\\]/.test(text) ? text.replace(/["\\]/g, "\\$&") : text}"`;
}
