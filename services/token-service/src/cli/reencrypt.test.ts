import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createPrismaClient, type PrismaClient } from "@syncwell/db";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  decryptTokens,
  findConnection,
  insertConnection,
  sealTokens,
} from "../repositories/connections.repository.ts";
import { cipherFor, createUser, keyList, randomKey, secretToken } from "../testing/fixtures.ts";

const script = fileURLToPath(new URL("./reencrypt.ts", import.meta.url));
const exec = promisify(execFile);

/** Runs the command with the test's Node 22 (process.execPath), not whatever `node` is on PATH. */
async function run(env: Record<string, string>, args: string[] = []) {
  try {
    const { stdout, stderr } = await exec(process.execPath, [script, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

let db: TestDatabase;
let prisma: PrismaClient;
const k1 = randomKey();
const k2 = randomKey();

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrismaClient(db.pool);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

describe("npm run reencrypt", () => {
  it("moves every connection to the current key, printing progress; a second run finds nothing to do", async () => {
    const old = cipherFor({ k1 }, "k1");
    const written = new Map<string, { accessToken: string; refreshToken: string }>();
    for (let i = 0; i < 5; i++) {
      const tokens = { accessToken: secretToken("access"), refreshToken: secretToken("refresh") };
      const row = await insertConnection(prisma, {
        userId: await createUser(db.pool),
        provider: "google",
        providerAccountId: null,
        scopes: [],
        ...sealTokens(tokens, old),
        accessTokenExpiresAt: null,
        tokenExpiresNever: true,
      });
      written.set(row.id, tokens);
    }
    const env = {
      DATABASE_URL: db.url,
      TOKEN_ENCRYPTION_KEYS: keyList({ k1, k2 }),
      TOKEN_ENCRYPTION_CURRENT_KEY: "k2",
    };

    const first = await run(env, ["--batch-size", "2"]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("2 / 5 re-encrypted");
    expect(first.stdout).toContain("5 / 5 re-encrypted");
    expect(first.stdout).toContain('done: 5 of 5 connection(s) re-encrypted under key "k2"');

    const current = cipherFor({ k2 }, "k2"); // k1 could now be removed
    for (const [id, tokens] of written) {
      const row = await findConnection(prisma, id);
      expect(row?.tokenKeyId).toBe("k2");
      expect(row && decryptTokens(row, current)).toEqual(tokens);
    }

    const second = await run(env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('nothing to do: every connection is under key "k2"');

    const output = first.stdout + first.stderr + second.stdout + second.stderr;
    for (const secret of [k1, k2, ...[...written.values()].flatMap((t) => [t.accessToken, t.refreshToken])]) {
      expect(output).not.toContain(secret);
    }
  });

  it("refuses a bad key configuration naming the variable, never the key", async () => {
    const shortKey = Buffer.alloc(16, 7).toString("base64");
    const bad = await run({
      DATABASE_URL: db.url,
      TOKEN_ENCRYPTION_KEYS: `k1:${k1},k2:${shortKey}`,
      TOKEN_ENCRYPTION_CURRENT_KEY: "k1",
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("TOKEN_ENCRYPTION_KEYS");
    expect(bad.stderr).toContain('key "k2": must be 32 bytes');
    expect(bad.stderr).not.toContain(shortKey);
    expect(bad.stderr).not.toContain(k1);

    const unknownCurrent = await run({
      DATABASE_URL: db.url,
      TOKEN_ENCRYPTION_KEYS: `k1:${k1}`,
      TOKEN_ENCRYPTION_CURRENT_KEY: "k9",
    });
    expect(unknownCurrent.code).toBe(1);
    expect(unknownCurrent.stderr).toContain("TOKEN_ENCRYPTION_CURRENT_KEY");
    expect(unknownCurrent.stderr).toContain("(k1)");
    expect(unknownCurrent.stderr).not.toContain(k1);
  });
});
