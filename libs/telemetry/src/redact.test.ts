import { describe, expect, it } from "vitest";
import { redactPaths, redactSecrets } from "./redact.ts";

describe("redactSecrets", () => {
  it("masks bearer and basic credentials", () => {
    expect(redactSecrets("got 401 for Authorization: Bearer ya29.a0AfH6SMB-x_y~z+/=")).toBe(
      "got 401 for Authorization: Bearer [redacted]",
    );
    expect(redactSecrets("basic dXNlcjpwYXNz")).toBe("basic [redacted]");
  });

  it("masks form and query parameters", () => {
    expect(
      redactSecrets(
        "POST /token grant_type=refresh_token&refresh_token=1//0gAbC&client_id=abc&client_secret=GOCSPX-xyz",
      ),
    ).toBe(
      "POST /token grant_type=refresh_token&refresh_token=[redacted]&client_id=abc&client_secret=[redacted]",
    );
    expect(redactSecrets("https://api.example.com/me?access_token=EAAB123&fields=id")).toBe(
      "https://api.example.com/me?access_token=[redacted]&fields=id",
    );
  });

  it("masks JSON bodies quoted in messages", () => {
    const body =
      '{"access_token": "gho_16C7e42F292c", "token_type":"bearer", "refresh_token":"ghr_1B4a\\"x"}';
    expect(redactSecrets(`provider answered ${body}`)).toBe(
      'provider answered {"access_token": "[redacted]", "token_type":"bearer", "refresh_token":"[redacted]"}',
    );
  });

  it("leaves ordinary text alone", () => {
    const text = "invalid_grant: Token has been expired or revoked. grant_type=refresh_token";
    expect(redactSecrets(text)).toBe(text);
  });
});

describe("redactPaths", () => {
  it("covers top-level and nested keys, quoting names that are not identifiers", () => {
    const paths = redactPaths(["accessToken", "set-cookie"]);
    expect(paths).toEqual([
      "accessToken",
      "*.accessToken",
      "*.*.accessToken",
      "*.*.*.accessToken",
      '["set-cookie"]',
      '*["set-cookie"]',
      '*.*["set-cookie"]',
      '*.*.*["set-cookie"]',
    ]);
  });
});
