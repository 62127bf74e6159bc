import { describe, expect, it } from "vitest";
import { z } from "zod";
import { PlatformError } from "./errors.ts";
import {
  decodeState,
  encodeState,
  nextLinkParam,
  parseItems,
  parseLinkHeader,
  parsePayload,
} from "./parse.ts";

describe("parseLinkHeader", () => {
  const header =
    '<https://api.github.com/user/repos?per_page=100&page=2>; rel="next", <https://api.github.com/user/repos?per_page=100&page=5>; rel="last"';

  it("maps relations to URLs", () => {
    const links = parseLinkHeader(header);
    expect(links.get("next")).toBe("https://api.github.com/user/repos?per_page=100&page=2");
    expect(links.get("last")).toBe("https://api.github.com/user/repos?per_page=100&page=5");
    expect(parseLinkHeader(null).size).toBe(0);
  });

  it("takes unquoted and multi-valued rels", () => {
    const links = parseLinkHeader(
      '<https://x.io/a?page=3>; rel=next, <https://x.io/a?page=1>; rel="first prev"',
    );
    expect(links.get("next")).toBe("https://x.io/a?page=3");
    expect(links.get("first")).toBe("https://x.io/a?page=1");
    expect(links.get("prev")).toBe("https://x.io/a?page=1");
  });

  it("nextLinkParam reads one parameter of the next link", () => {
    expect(nextLinkParam(new Headers({ link: header }), "page")).toBe("2");
    expect(nextLinkParam(new Headers({ link: '<https://x.io/a?page=1>; rel="prev"' }), "page")).toBeNull();
    expect(nextLinkParam(new Headers(), "page")).toBeNull();
  });
});

describe("parsePayload", () => {
  const schema = z.object({ items: z.array(z.object({ id: z.string(), name: z.string() })) });

  it("returns the value as given, with the fields the schema does not name", () => {
    const body = { items: [{ id: "a", name: "A", extra: { nested: [1, 2] } }], etag: "x" };
    const parsed = parsePayload(schema, body, "thing");
    expect(parsed).toBe(body);
    expect(parsed.items[0]).toEqual({ id: "a", name: "A", extra: { nested: [1, 2] } });
  });

  it("throws malformed naming the field and the item", () => {
    const body = { items: [{ id: "a", name: "A" }, { id: "b" }] };
    const error = (() => {
      try {
        parsePayload(schema, body, "example list");
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as PlatformError).kind).toBe("malformed");
    expect((error as PlatformError).message).toMatch(
      /^malformed example list: items\[1\] \(id "b"\)\.name: /,
    );
  });

  it("names the root when the body is not an object", () => {
    expect(() => parsePayload(schema, null, "example list")).toThrow(/malformed example list: \(root\): /);
  });
});

describe("page state", () => {
  it("round-trips and rejects what it cannot read", () => {
    const schema = z.object({ h: z.string(), p: z.string().nullable() });
    const token = encodeState({ h: "123", p: null });
    expect(decodeState(schema, token)).toEqual({ h: "123", p: null });
    expect(decodeState(schema, null)).toBeNull();
    expect(decodeState(schema, "not-base64-json")).toBeNull();
    expect(decodeState(schema, encodeState({ x: 1 }))).toBeNull();
  });
});

describe("parseItems", () => {
  const schema = z.object({ id: z.string(), tags: z.array(z.object({ name: z.string() })).optional() });

  it("keeps the valid items as they are and names each invalid one by id and a content-free reason", () => {
    const good = { id: "a", extra: { secret: "kept as sent" } };
    const result = parseItems(schema, [
      good,
      { id: 7 },
      { id: "b", tags: [{ name: "x" }, { name: "Private subject", n: 1 }, {}] },
      null,
    ]);
    expect(result.items).toEqual([good]);
    expect(result.items[0]).toBe(good);
    expect(result.skipped).toEqual([
      { id: "7", reason: "id: Invalid input: expected string, received number" },
      { id: "b", reason: "tags[].name: Invalid input: expected string, received undefined" },
      { id: null, reason: "(item): Invalid input: expected object, received null" },
    ]);
  });

  it("takes the id from the caller when items name themselves otherwise", () => {
    const result = parseItems(schema, [{ key: "k1" }], (item) => (item as { key: string }).key);
    expect(result.skipped).toEqual([
      { id: "k1", reason: "id: Invalid input: expected string, received undefined" },
    ]);
  });
});
