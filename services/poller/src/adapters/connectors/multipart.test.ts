import { describe, expect, it } from "vitest";
import { PlatformError } from "./errors.ts";
import { multipartBoundary, parseHttpResponse, parseMultipart } from "./multipart.ts";

const WHAT = "Gmail batch answer";

function failure(run: () => unknown): PlatformError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PlatformError);
    expect(error).toMatchObject({ kind: "malformed" });
    return error as PlatformError;
  }
  throw new Error("expected a malformed error");
}

/** Google's batch answer: CRLF line ends, a Content-ID per part, an HTTP response inside. */
const GOOGLE = [
  "--batch_xyz",
  "Content-Type: application/http",
  "Content-ID: <response-item-1>",
  "",
  "HTTP/1.1 200 OK",
  "Content-Type: application/json; charset=UTF-8",
  "Vary: Origin",
  "Vary: X-Origin",
  "",
  '{"id":"a1"}',
  "--batch_xyz",
  "Content-Type: application/http",
  "Content-ID: <response-item-2>",
  "",
  "HTTP/1.1 404 Not Found",
  "Content-Type: application/json; charset=UTF-8",
  "",
  '{"error":{"code":404}}',
  "",
  "--batch_xyz--",
  "",
].join("\r\n");

describe("multipartBoundary", () => {
  it("reads the boundary, quoted or not, among other parameters", () => {
    expect(multipartBoundary("multipart/mixed; boundary=batch_xyz", WHAT)).toBe("batch_xyz");
    expect(multipartBoundary('Multipart/Mixed; charset=utf-8; BOUNDARY="a b=c"', WHAT)).toBe("a b=c");
    expect(multipartBoundary("multipart/mixed;boundary=x;foo=bar", WHAT)).toBe("x");
  });

  it("refuses an answer that is not multipart, or has no boundary", () => {
    expect(failure(() => multipartBoundary("application/json; charset=UTF-8", WHAT)).message).toBe(
      'malformed Gmail batch answer: expected a multipart answer, got "application/json; charset=UTF-8"',
    );
    expect(failure(() => multipartBoundary(null, WHAT)).message).toContain("no Content-Type");
    expect(failure(() => multipartBoundary("multipart/mixed", WHAT)).message).toContain("no usable boundary");
    expect(failure(() => multipartBoundary('multipart/mixed; boundary=""', WHAT)).message).toContain(
      "no usable boundary",
    );
  });
});

describe("parseMultipart", () => {
  it("splits Google's answer into parts with their headers and bodies", () => {
    const parts = parseMultipart(GOOGLE, "batch_xyz", WHAT);
    expect(parts).toHaveLength(2);
    expect(parts[0]?.headers.get("content-id")).toBe("<response-item-1>");
    expect(parts[0]?.headers.get("content-type")).toBe("application/http");
    const first = parseHttpResponse(parts[0]?.body ?? "", WHAT);
    expect(first.status).toBe(200);
    expect(first.headers.get("vary")).toBe("Origin, X-Origin");
    expect(first.body).toBe('{"id":"a1"}');
    const second = parseHttpResponse(parts[1]?.body ?? "", WHAT);
    expect(second.status).toBe(404);
    // Only the line break before the delimiter is the delimiter's: the rest stays in the body.
    expect(second.body).toBe('{"error":{"code":404}}\r\n');
  });

  it("reads LF line ends, a preamble, padding after delimiters and an epilogue", () => {
    const text = [
      "This is a preamble.",
      "--b  ",
      "Content-ID: <x>",
      "",
      "HTTP/1.1 204 No Content",
      "",
      "--b\t",
      "Content-ID: <y>",
      "",
      "HTTP/1.0 500 Internal Server Error",
      "",
      "oops",
      "--b--",
      "an epilogue",
    ].join("\n");
    const parts = parseMultipart(text, "b", WHAT);
    expect(parts.map((p) => p.headers.get("content-id"))).toEqual(["<x>", "<y>"]);
    expect(parts.map((p) => parseHttpResponse(p.body, WHAT))).toEqual([
      { status: 204, headers: new Map(), body: "" },
      { status: 500, headers: new Map(), body: "oops" },
    ]);
  });

  it("does not take the boundary inside a line, or a longer boundary, for a delimiter", () => {
    const text = [
      "--b",
      "",
      "HTTP/1.1 200 OK",
      "",
      '{"note":"--b in the middle"}',
      "--bb not a delimiter",
      "--b--",
    ].join("\r\n");
    const [part] = parseMultipart(text, "b", WHAT);
    expect(parseHttpResponse(part?.body ?? "", WHAT).body).toBe(
      '{"note":"--b in the middle"}\r\n--bb not a delimiter',
    );
  });

  it("joins folded header lines", () => {
    const [part] = parseMultipart("--b\r\nContent-ID:\r\n  <item-1>\r\n\r\nbody\r\n--b--", "b", WHAT);
    expect(part?.headers.get("content-id")).toBe("<item-1>");
    expect(part?.body).toBe("body");
  });

  it("refuses a body that is cut off, has no delimiter, or a broken header", () => {
    const cut = GOOGLE.slice(0, GOOGLE.indexOf("HTTP/1.1 404"));
    expect(failure(() => parseMultipart(cut, "batch_xyz", WHAT)).message).toMatch(
      /^malformed Gmail batch answer: part 2 is not followed by a delimiter/,
    );
    expect(failure(() => parseMultipart('{"error":"not a batch"}', "batch_xyz", WHAT)).message).toBe(
      'malformed Gmail batch answer: no "--batch_xyz" delimiter in the body',
    );
    expect(failure(() => parseMultipart("--b", "b", WHAT)).message).toContain("ends inside the delimiter");
    expect(
      failure(() => parseMultipart("--b\r\nContent-ID <x>\r\n\r\nbody\r\n--b--", "b", WHAT)).message,
    ).toBe('malformed Gmail batch answer: part 1 has a line that is not a header field: "Content-ID <x>"');
  });
});

describe("parseHttpResponse", () => {
  it("needs a status line", () => {
    expect(failure(() => parseHttpResponse('{"id":"a1"}', `${WHAT}, part <x>`)).message).toBe(
      'malformed Gmail batch answer, part <x>: not an HTTP status line: "{\\"id\\":\\"a1\\"}"',
    );
    expect(failure(() => parseHttpResponse("HTTP/1.1 OK\r\n\r\n{}", WHAT)).message).toContain("status line");
  });

  it("takes a response without a blank line as one without a body", () => {
    expect(parseHttpResponse("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7", WHAT)).toEqual({
      status: 429,
      headers: new Map([["retry-after", "7"]]),
      body: "",
    });
  });
});
