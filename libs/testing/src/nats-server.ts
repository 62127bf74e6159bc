import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Naming, natsUsers, renderNatsAuthorization } from "@syncwell/bus";
import { freePort } from "./ports.ts";

/** The nats-server binary for tests that need a configuration of their own (default: from PATH). */
const NATS_SERVER_BIN = process.env.SYNCWELL_TEST_NATS_SERVER ?? "nats-server";

export type OwnNatsServer = {
  url: string;
  port: number;
  /** Everything the server wrote (permission violations are logged here). */
  log(): string;
  stop(): Promise<void>;
};

/**
 * A nats-server of the test's own, with JetStream in a temporary directory, on a free port of
 * 127.0.0.1, for tests that need a configuration the shared server must not get (users and
 * permissions). `config` is appended to the listen and JetStream settings; `env` is the server's
 * environment (its `$VAR` references). Stop it with stop(), which removes its store.
 */
export async function startNatsServer(options: {
  config: string;
  env?: Record<string, string>;
}): Promise<OwnNatsServer> {
  const dir = await mkdtemp(join(tmpdir(), "syncwell-nats-"));
  const port = await freePort();
  const file = join(dir, "nats.conf");
  await writeFile(
    file,
    [
      `listen: 127.0.0.1:${port}`,
      `jetstream { store_dir: ${JSON.stringify(join(dir, "js"))}, max_file_store: 2GB, max_memory_store: 64MB }`,
      options.config,
    ].join("\n"),
  );
  const child = spawn(NATS_SERVER_BIN, ["-c", file], {
    env: { ...options.env, PATH: process.env.PATH ?? "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const append = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  try {
    await waitUntilReady(child, () => output);
  } catch (err) {
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    log: () => output,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once the server logs that it is ready; rejects when it exits first or takes over 10 s. */
function waitUntilReady(child: ChildProcess, output: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`nats-server not ready after 10 s:\n${output()}`)),
      10_000,
    );
    const check = setInterval(() => {
      if (output().includes("Server is ready")) finish();
    }, 20);
    const onExit = (code: number | null) => finish(new Error(`nats-server exited (${code}):\n${output()}`));
    const onError = (err: Error) => finish(err);
    child.once("exit", onExit);
    child.once("error", onError);
    function finish(err?: Error): void {
      clearTimeout(timer);
      clearInterval(check);
      child.off("exit", onExit);
      child.off("error", onError);
      if (err) reject(err);
      else resolve();
    }
  });
}

export type SecuredNats = OwnNatsServer & {
  prefix: string;
  /** User name and password of a service (or `operator`) on this server. */
  credentials(user: string): { user: string; password: string };
  /** NATS_URL, NATS_PREFIX, NATS_USER and NATS_PASSWORD of a service run against this server. */
  serviceEnv(user: string): Record<string, string>;
};

/**
 * A nats-server of the test's own with the users and permissions that `npm run nats:config`
 * generates (here for `prefix`), each user with a random password: a service connecting as its own
 * user can do only what its identity allows.
 */
export async function startSecuredNats(prefix = ""): Promise<SecuredNats> {
  const naming = new Naming(prefix);
  const users = natsUsers(naming);
  // nats-server parses a `$VAR` value as a config value: one that looks like a number is not a
  // string any more, so every password starts with a letter (as README.md tells operators).
  const passwords = new Map(users.map((u) => [u.user, `p${randomBytes(12).toString("hex")}`]));
  const server = await startNatsServer({
    config: renderNatsAuthorization(naming),
    env: Object.fromEntries(users.map((u) => [u.passwordVariable, passwords.get(u.user) ?? ""])),
  });
  const credentials = (user: string) => {
    const password = passwords.get(user);
    if (password === undefined) throw new Error(`no NATS user ${user} in the generated configuration`);
    return { user, password };
  };
  return {
    ...server,
    prefix,
    credentials,
    serviceEnv(user) {
      const { password } = credentials(user);
      return { NATS_URL: server.url, NATS_PREFIX: prefix, NATS_USER: user, NATS_PASSWORD: password };
    },
  };
}
