import { describe, expect, it } from "vitest";
import { connectorFor, connectors, connectorsForProvider } from "./index.ts";

describe("connectors", () => {
  it("lists the six platforms once each, with unique resource names", () => {
    expect(connectors.map((c) => c.platform).sort()).toEqual([
      "calendar",
      "discord",
      "github",
      "gmail",
      "spotify",
      "youtube",
    ]);
    for (const connector of connectors) {
      const names = connector.resources.map((r) => r.name);
      expect(new Set(names).size).toBe(names.length);
      // The base URL is the API's origin; paths carry the rest.
      expect(new URL(connector.baseUrl).origin).toBe(connector.baseUrl);
    }
  });

  it("finds a connector by platform and the platforms of a provider", () => {
    expect(connectorFor("gmail")?.provider).toBe("google");
    expect(connectorFor("linkedin")).toBeUndefined();
    expect(
      connectorsForProvider("google")
        .map((c) => c.platform)
        .sort(),
    ).toEqual(["calendar", "gmail", "youtube"]);
  });
});
