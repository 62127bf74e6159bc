import { describe, expect, it } from "vitest";
import { parseAddress, parseAddressList } from "./address-list.ts";

describe("parseAddressList", () => {
  it("reads a bare address and keeps its case", () => {
    expect(parseAddressList("Alice.Smith@Example.COM")).toEqual(["Alice.Smith@Example.COM"]);
  });

  it("reads Name <address>", () => {
    expect(parseAddressList("Alice Smith <alice@example.com>")).toEqual(["alice@example.com"]);
    expect(parseAddressList("<bob@example.com>")).toEqual(["bob@example.com"]);
  });

  it("reads several comma-separated recipients", () => {
    expect(parseAddressList("Alice <alice@a.io>, bob@b.io,  Carol Jones <Carol@C.io> ")).toEqual([
      "alice@a.io",
      "bob@b.io",
      "Carol@C.io",
    ]);
  });

  it("does not split quoted names that contain commas, angle brackets or escaped quotes", () => {
    expect(
      parseAddressList(
        '"Smith, Alice" <alice@a.io>, "Jones, Bob (Sales)" <bob@b.io>, "Say \\"hi\\", <x>" <carol@c.io>',
      ),
    ).toEqual(["alice@a.io", "bob@b.io", "carol@c.io"]);
  });

  it("survives an unquoted comma in a display name", () => {
    expect(parseAddressList("Smith, Alice <alice@a.io>")).toEqual(["alice@a.io"]);
  });

  it("ignores comments and group names", () => {
    expect(parseAddressList("alice@a.io (Alice, at work), Team: bob@b.io, carol@c.io;")).toEqual([
      "alice@a.io",
      "bob@b.io",
      "carol@c.io",
    ]);
    expect(parseAddressList("undisclosed-recipients:;")).toEqual([]);
  });

  it("drops duplicates case-insensitively and entries without an address", () => {
    expect(parseAddressList("Alice <ALICE@a.io>, alice@a.io, not an address, , <>")).toEqual(["ALICE@a.io"]);
  });

  it("handles unicode display names and missing headers", () => {
    expect(parseAddressList("Zoë Müller <zoe@example.de>")).toEqual(["zoe@example.de"]);
    expect(parseAddressList(undefined)).toEqual([]);
    expect(parseAddressList("")).toEqual([]);
  });

  it("parseAddress gives the first address or null", () => {
    expect(parseAddress('"Doe, Jane" <Jane.Doe@Example.com>')).toBe("Jane.Doe@Example.com");
    expect(parseAddress("Jane Doe")).toBeNull();
    expect(parseAddress(null)).toBeNull();
  });
});
