/**
 * Reading a `multipart/mixed` answer (RFC 2046 §5.1) and the HTTP responses inside its
 * `application/http` parts, as Google's batch endpoints send them. Tolerant where senders differ
 * (CRLF or bare LF line ends, a preamble and epilogue, quoted boundaries, folded headers), strict
 * where a misreading would lose data: a body without its closing delimiter, or a part that is not
 * an HTTP response, throws `malformed(what, reason)`. Pure functions, no I/O.
 */
import { malformed } from "./errors.ts";

/** By header name in lower case; a repeated header's values joined with ", " (RFC 9110 §5.3). */
export type HeaderFields = ReadonlyMap<string, string>;

export type MultipartPart = { headers: HeaderFields; body: string };

/** A response carried inside a part (`HTTP/1.1 404 Not Found`, its headers and its body). */
export type EmbeddedResponse = { status: number; headers: HeaderFields; body: string };

const LINE_BREAK = /\r?\n/;
const BLANK_LINE = /\r?\n\r?\n/;

/** The `boundary` parameter of a multipart `Content-Type`. */
export function multipartBoundary(contentType: string | null | undefined, what: string): string {
  const type = contentType ?? "";
  if (!/^\s*multipart\//i.test(type)) {
    throw malformed(
      what,
      `expected a multipart answer, got ${type === "" ? "no Content-Type" : JSON.stringify(type)}`,
    );
  }
  const match = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^\s;]+))/i.exec(type);
  const boundary = match?.[1] ?? match?.[2] ?? "";
  if (boundary === "" || boundary.length > 200) {
    throw malformed(what, `no usable boundary in Content-Type ${JSON.stringify(type)}`);
  }
  return boundary;
}

/** The parts between the delimiters, in order; the preamble and epilogue are ignored. */
export function parseMultipart(text: string, boundary: string, what: string): MultipartPart[] {
  const delimiter = `--${boundary}`;
  const parts: MultipartPart[] = [];
  let at = findDelimiter(text, delimiter, 0);
  if (at === -1) throw malformed(what, `no "--${boundary}" delimiter in the body`);
  for (;;) {
    const after = at + delimiter.length;
    if (text.startsWith("--", after)) return parts; // the close delimiter
    const eol = text.indexOf("\n", after);
    if (eol === -1) throw malformed(what, `the body ends inside the delimiter of part ${parts.length + 1}`);
    const next = findDelimiter(text, delimiter, eol + 1);
    if (next === -1)
      throw malformed(what, `part ${parts.length + 1} is not followed by a delimiter (cut off?)`);
    // The line break before a delimiter belongs to the delimiter, not to the part.
    let end = next;
    if (text.charCodeAt(end - 1) === 10) end -= 1;
    if (text.charCodeAt(end - 1) === 13) end -= 1;
    const { head, rest } = splitHead(text.slice(eol + 1, Math.max(eol + 1, end)));
    parts.push({ headers: parseHeaderFields(head, what, `part ${parts.length + 1}`), body: rest });
    at = next;
  }
}

/** The HTTP response a part carries: status line, header fields, blank line, body. */
export function parseHttpResponse(text: string, what: string): EmbeddedResponse {
  const { head, rest } = splitHead(text);
  const [statusLine = "", ...fields] = head;
  const status = /^HTTP\/\d(?:\.\d)?\s+(\d{3})(?:\s|$)/.exec(statusLine);
  if (status === null)
    throw malformed(what, `not an HTTP status line: ${JSON.stringify(statusLine.slice(0, 80))}`);
  return { status: Number(status[1]), headers: parseHeaderFields(fields, what, "the response"), body: rest };
}

/** The next delimiter at or after `from`: at a line start, followed by `--`, padding or the line's end. */
function findDelimiter(text: string, delimiter: string, from: number): number {
  for (let i = text.indexOf(delimiter, from); i !== -1; i = text.indexOf(delimiter, i + 1)) {
    if (i !== 0 && text.charCodeAt(i - 1) !== 10) continue;
    const next = text.charAt(i + delimiter.length);
    if (next === "" || next === "-" || next === "\r" || next === "\n" || next === " " || next === "\t")
      return i;
  }
  return -1;
}

/** The header lines before the first blank line, and everything after it (no blank line: no body). */
function splitHead(text: string): { head: string[]; rest: string } {
  const empty = /^\r?\n/.exec(text);
  if (empty !== null) return { head: [], rest: text.slice(empty[0].length) };
  const blank = BLANK_LINE.exec(text);
  if (blank === null) return { head: text === "" ? [] : text.split(LINE_BREAK), rest: "" };
  return {
    head: text.slice(0, blank.index).split(LINE_BREAK),
    rest: text.slice(blank.index + blank[0].length),
  };
}

function parseHeaderFields(lines: readonly string[], what: string, where: string): HeaderFields {
  const fields = new Map<string, string>();
  let last: string | null = null;
  for (const line of lines) {
    if (line === "") continue;
    // An obsolete folded line continues the previous field's value (RFC 9112 §5.2).
    if ((line.startsWith(" ") || line.startsWith("\t")) && last !== null) {
      fields.set(last, `${fields.get(last)} ${line.trim()}`.trim());
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) {
      const shown = JSON.stringify(line.slice(0, 80));
      throw malformed(what, `${where} has a line that is not a header field: ${shown}`);
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const earlier = fields.get(name);
    fields.set(name, earlier === undefined ? value : `${earlier}, ${value}`);
    last = name;
  }
  return fields;
}
