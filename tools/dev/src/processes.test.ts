import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultClientId, defaultClientSecret } from "@syncwell/provider-simulator";
import { describe, expect, it } from "vitest";
import {
  childEnv,
  describeExit,
  formatLabel,
  LOCAL_DEFAULTS,
  localDevEnv,
  nodeArgs,
  PROCESSES,
  type ProcessSpec,
  wantColor,
} from "./processes.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

function spec(name: string): ProcessSpec {
  const found = PROCESSES.find((p) => p.name === name);
  if (!found) throw new Error(`no process ${name}`);
  return found;
}

describe("the process table", () => {
  it("runs the simulator and the five services on distinct ports", () => {
    expect(PROCESSES.map((p) => [p.name, p.port])).toEqual([
      ["provider-simulator", 4010],
      ["scheduler", 3001],
      ["token-service", 3002],
      ["poller", 3003],
      ["health-scorer", 3004],
      ["notifier", 3005],
    ]);
  });

  it("points every service at its workspace package", () => {
    for (const p of PROCESSES) {
      const packageDir = p.entry.replace(/\/src\/main\.ts$/, "");
      expect(existsSync(join(ROOT, packageDir, "package.json")), p.entry).toBe(true);
      const pkg = JSON.parse(readFileSync(join(ROOT, packageDir, "package.json"), "utf8")) as {
        name: string;
      };
      expect(pkg.name).toBe(`@syncwell/${p.name}`);
    }
  });
});

describe("childEnv", () => {
  it("fills in the local defaults, the port and the service name", () => {
    const env = childEnv(spec("poller"), { base: { PATH: "/bin" }, color: false });
    expect(env).toMatchObject({
      ...LOCAL_DEFAULTS,
      PATH: "/bin",
      HTTP_PORT: "3003",
      OTEL_SERVICE_NAME: "poller",
      OTEL_SDK_DISABLED: "true",
    });
    expect(env.FORCE_COLOR).toBeUndefined();
  });

  it("keeps what the caller set, except the per-process port and name", () => {
    const base = {
      DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/other",
      NATS_PREFIX: "dev",
      LOG_PRETTY: "false",
      HTTP_PORT: "9999",
      OTEL_SERVICE_NAME: "shell",
    };
    const env = childEnv(spec("notifier"), { base, color: false });
    expect(env).toMatchObject({
      DATABASE_URL: base.DATABASE_URL,
      NATS_PREFIX: "dev",
      LOG_PRETTY: "false",
      HTTP_PORT: "3005",
      OTEL_SERVICE_NAME: "notifier",
    });
  });

  it("gives the simulator its port in PORT, the variable it reads", () => {
    const env = childEnv(spec("provider-simulator"), { base: {}, color: false });
    expect(env.PORT).toBe("4010");
    expect(env.HTTP_PORT).toBeUndefined();
  });

  it("leaves telemetry on when a collector is configured", () => {
    const env = childEnv(spec("scheduler"), {
      base: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" },
      color: false,
    });
    expect(env.OTEL_SDK_DISABLED).toBeUndefined();
  });

  it("forces colours in the child only when the runner shows them and nobody opted out", () => {
    expect(childEnv(spec("scheduler"), { base: {}, color: true }).FORCE_COLOR).toBe("1");
    expect(childEnv(spec("scheduler"), { base: { NO_COLOR: "1" }, color: true }).FORCE_COLOR).toBeUndefined();
  });

  it("does not change the caller's environment", () => {
    const base: NodeJS.ProcessEnv = {};
    childEnv(spec("scheduler"), { base, color: true });
    expect(base).toEqual({});
  });
});

describe("localDevEnv", () => {
  it("gives the token service an OAuth client of the simulator for every provider it plays", () => {
    const env = localDevEnv("http://127.0.0.1:4010");
    expect(env.PROVIDER_GITHUB_APP_CLIENT_ID).toBe(defaultClientId("github-app"));
    expect(env.PROVIDER_GITHUB_APP_CLIENT_SECRET).toBe(defaultClientSecret("github-app"));
    expect(env.PROVIDER_GOOGLE_TOKEN_URL).toBe("http://127.0.0.1:4010/google/oauth/token");
  });

  it("has a 32-byte encryption key under the current key id", () => {
    const env = localDevEnv("http://127.0.0.1:4010");
    const [id, key] = (env.TOKEN_ENCRYPTION_KEYS ?? "").split(":");
    expect(id).toBe(env.TOKEN_ENCRYPTION_CURRENT_KEY);
    expect(Buffer.from(key ?? "", "base64")).toHaveLength(32);
  });

  it("sends the notifier's emails to the simulator's Resend endpoint", () => {
    const env = localDevEnv("http://127.0.0.1:4010");
    expect(env.RESEND_BASE_URL).toBe("http://127.0.0.1:4010");
    expect(env.RESEND_API_KEY).toMatch(/^re_/);
    expect(env.EMAIL_FROM).toMatch(/^Syncwell <.+@.+>$/);
  });

  it("never overrides what the environment sets", () => {
    const env = childEnv(spec("token-service"), { base: { TOKEN_SERVICE_API_TOKEN: "mine" }, color: false });
    expect(env.TOKEN_SERVICE_API_TOKEN).toBe("mine");
    expect(env.SCHEDULER_API_TOKEN).toBe("local-dev-scheduler-token");
  });
});

describe("nodeArgs", () => {
  it("preloads telemetry for services when it is available", () => {
    expect(nodeArgs(spec("scheduler"), true)).toEqual([
      "--import",
      "@syncwell/telemetry/register",
      "services/scheduler/src/main.ts",
    ]);
    expect(nodeArgs(spec("scheduler"), false)).toEqual(["services/scheduler/src/main.ts"]);
    expect(nodeArgs(spec("provider-simulator"), true)).toEqual(["tools/provider-simulator/src/main.ts"]);
  });
});

describe("output", () => {
  it("pads labels to a common width and colours them on request", () => {
    expect(formatLabel(spec("poller"), 13, false)).toBe("poller        │");
    expect(formatLabel(spec("poller"), 13, true)).toBe("\u001b[33mpoller        │\u001b[39m");
  });

  it("decides colours from the terminal, NO_COLOR and FORCE_COLOR", () => {
    expect(wantColor({}, true)).toBe(true);
    expect(wantColor({}, false)).toBe(false);
    expect(wantColor({ NO_COLOR: "1" }, true)).toBe(false);
    expect(wantColor({ FORCE_COLOR: "1" }, false)).toBe(true);
    expect(wantColor({ FORCE_COLOR: "0" }, true)).toBe(false);
  });

  it("describes how a process ended", () => {
    expect(describeExit(1, null)).toBe("code 1");
    expect(describeExit(0, null)).toBe("code 0");
    expect(describeExit(null, "SIGKILL")).toBe("signal SIGKILL");
  });
});
