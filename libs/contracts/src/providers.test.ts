import { describe, expect, it } from "vitest";
import { providerName } from "./fields.ts";
import { isProviderId, providerIds } from "./providers.ts";

describe("providerIds", () => {
  it("are valid provider keys in events", () => {
    for (const id of providerIds) expect(providerName.safeParse(id).success, id).toBe(true);
  });

  it("has no repeats", () => {
    expect(new Set(providerIds).size).toBe(providerIds.length);
  });
});

describe("isProviderId", () => {
  it("accepts the listed providers only", () => {
    expect(isProviderId("github-app")).toBe(true);
    expect(isProviderId("gmail")).toBe(false);
    expect(isProviderId("Google")).toBe(false);
  });
});
