import { describe, expect, it } from "vitest";
import { isTelemetryDisabled, isUntracedPath } from "./lifecycle.ts";
import { resolveServiceName } from "./sdk.ts";

describe("resolveServiceName", () => {
  it("prefers OTEL_SERVICE_NAME, then SERVICE_NAME, then the services/<name>/ entry point", () => {
    expect(
      resolveServiceName({ OTEL_SERVICE_NAME: "a", SERVICE_NAME: "b" }, "/x/services/c/src/main.ts"),
    ).toBe("a");
    expect(resolveServiceName({ SERVICE_NAME: "b" }, "/x/services/c/src/main.ts")).toBe("b");
    expect(resolveServiceName({}, "/repo/services/token-service/src/main.ts")).toBe("token-service");
    expect(resolveServiceName({}, "/repo/tools/cli/src/main.ts")).toBeUndefined();
  });
});

describe("switches", () => {
  it("reads OTEL_SDK_DISABLED and knows the probe paths", () => {
    expect(isTelemetryDisabled({ OTEL_SDK_DISABLED: "TRUE" })).toBe(true);
    expect(isTelemetryDisabled({ OTEL_SDK_DISABLED: "false" })).toBe(false);
    expect(isTelemetryDisabled({})).toBe(false);
    expect(isUntracedPath("/readyz?verbose=1")).toBe(true);
    expect(isUntracedPath("/v1/connections")).toBe(false);
  });
});
