import type { TokenCipher } from "@syncwell/credentials";
import { createPrismaClient, type PrismaClient, uniqueViolation } from "@syncwell/db";
import { createTestDatabase, type TestDatabase } from "@syncwell/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reencryptConnections } from "../engine/reencrypt.ts";
import { auth, cipherFor, createUser, randomKey, secretToken, startTestApi } from "../testing/fixtures.ts";
import {
  decryptTokens,
  findConnection,
  findConnectionByAccount,
  insertConnection,
  sealTokens,
} from "./connections.repository.ts";

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

async function insert(
  cipher: TokenCipher,
  tokens = { accessToken: secretToken("access"), refreshToken: secretToken("refresh") },
) {
  const userId = await createUser(db.pool);
  const row = await insertConnection(prisma, {
    userId,
    provider: "google",
    providerAccountId: null,
    scopes: [],
    ...sealTokens(tokens, cipher),
    accessTokenExpiresAt: null,
    tokenExpiresNever: true,
  });
  return { row, tokens };
}

describe("tokens at rest", () => {
  it("stores ciphertext under the current key and reads the tokens back", async () => {
    const cipher = cipherFor({ k1 }, "k1");
    const { row, tokens } = await insert(cipher);
    const { rows } = await db.pool.query("SELECT * FROM connections WHERE id = $1", [row.id]);
    const stored = JSON.stringify(rows[0]);
    expect(stored).not.toContain(tokens.accessToken);
    expect(stored).not.toContain(tokens.refreshToken);
    expect(rows[0]?.access_token_encrypted).toMatch(/^v1\.k1\./);
    expect(rows[0]?.token_key_id).toBe("k1");

    const read = await findConnection(prisma, row.id);
    expect(read && decryptTokens(read, cipher)).toEqual(tokens);
  });

  it("keeps rows written under k1 readable once k2 is current", async () => {
    const { row, tokens } = await insert(cipherFor({ k1 }, "k1"));
    const rotated = cipherFor({ k1, k2 }, "k2");
    const read = await findConnection(prisma, row.id);
    expect(read?.tokenKeyId).toBe("k1");
    expect(read && decryptTokens(read, rotated)).toEqual(tokens);

    // A write through the API after the switch re-seals both tokens under k2.
    const api = await startTestApi(db.pool, rotated);
    try {
      const res = await api.app.inject({
        method: "PUT",
        url: `/connections/${row.id}`,
        headers: auth,
        payload: { accessToken: "new-access-token" },
      });
      expect(res.json()).toMatchObject({ tokenKeyId: "k2" });
    } finally {
      await api.close();
    }
    const after = await findConnection(prisma, row.id);
    expect(after?.accessTokenEncrypted).toMatch(/^v1\.k2\./);
    expect(after?.refreshTokenEncrypted).toMatch(/^v1\.k2\./);
    expect(after && decryptTokens(after, cipherFor({ k2 }, "k2"))).toEqual({
      accessToken: "new-access-token",
      refreshToken: tokens.refreshToken,
    });
  });

  it("treats a missing provider account id as one value in the unique key (NULLS NOT DISTINCT)", async () => {
    const cipher = cipherFor({ k1 }, "k1");
    const { row } = await insert(cipher);
    const refused = await insertConnection(prisma, {
      userId: row.userId,
      provider: "google",
      providerAccountId: null,
      scopes: [],
      ...sealTokens({ accessToken: "a", refreshToken: null }, cipher),
      accessTokenExpiresAt: null,
      tokenExpiresNever: true,
    }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(uniqueViolation(refused)).toBe("connections_user_id_provider_provider_account_id_key");
    const found = await findConnectionByAccount(prisma, {
      userId: row.userId,
      provider: "google",
      providerAccountId: null,
    });
    expect(found?.id).toBe(row.id);
  });
});

describe("reencryptConnections", () => {
  it("moves every row to the current key, skips rows it cannot read, and is idempotent", async () => {
    const isolated = await createTestDatabase();
    const isolatedPrisma = createPrismaClient(isolated.pool);
    try {
      const old = cipherFor({ k1 }, "k1");
      const written: Array<{ id: string; tokens: { accessToken: string; refreshToken: string | null } }> = [];
      for (let i = 0; i < 7; i++) {
        const userId = await createUser(isolated.pool);
        const tokens = {
          accessToken: secretToken("access"),
          refreshToken: i % 2 === 0 ? secretToken("refresh") : null,
        };
        const row = await insertConnection(isolatedPrisma, {
          userId,
          provider: "spotify",
          providerAccountId: null,
          scopes: [],
          ...sealTokens(tokens, old),
          accessTokenExpiresAt: null,
          tokenExpiresNever: true,
        });
        written.push({ id: row.id, tokens });
      }
      // A row whose token_key_id already says k2 but whose ciphertext is still k1's.
      const mislabelled = written[0]?.id;
      await isolated.pool.query("UPDATE connections SET token_key_id = 'k2' WHERE id = $1", [mislabelled]);
      // A row under a key that is no longer configured.
      const lost = cipherFor({ k0: randomKey() }, "k0");
      const userId = await createUser(isolated.pool);
      const orphan = await insertConnection(isolatedPrisma, {
        userId,
        provider: "github",
        providerAccountId: null,
        scopes: [],
        ...sealTokens({ accessToken: "orphan", refreshToken: null }, lost),
        accessTokenExpiresAt: null,
        tokenExpiresNever: true,
      });

      const current = cipherFor({ k1, k2 }, "k2");
      const progress: number[] = [];
      const summary = await reencryptConnections(isolated.pool, current, {
        batchSize: 3,
        maxPasses: 1,
        onProgress: (p) => progress.push(p.done),
      });
      expect(summary).toMatchObject({ total: 8, reencrypted: 7, remaining: 0, currentKeyId: "k2" });
      expect(summary.failed).toEqual([{ id: orphan.id, reason: expect.stringContaining('key "k0"') }]);
      expect(progress.at(-1)).toBe(7);

      for (const { id, tokens } of written) {
        const row = await findConnection(isolatedPrisma, id);
        expect(row?.tokenKeyId).toBe("k2");
        expect(row?.accessTokenEncrypted).toMatch(/^v1\.k2\./);
        expect(row && decryptTokens(row, cipherFor({ k2 }, "k2"))).toEqual(tokens);
      }

      const second = await reencryptConnections(isolated.pool, current, { maxPasses: 1 });
      expect(second).toMatchObject({ total: 1, reencrypted: 0, remaining: 0 });
      expect(second.failed.map((f) => f.id)).toEqual([orphan.id]);
    } finally {
      await isolatedPrisma.$disconnect();
      await isolated.drop();
    }
  });

  it("skips rows another transaction holds and picks them up on a later pass", async () => {
    const isolated = await createTestDatabase();
    const isolatedPrisma = createPrismaClient(isolated.pool);
    try {
      const old = cipherFor({ k1 }, "k1");
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const userId = await createUser(isolated.pool);
        const row = await insertConnection(isolatedPrisma, {
          userId,
          provider: "slack",
          providerAccountId: null,
          scopes: [],
          ...sealTokens({ accessToken: `a${i}`, refreshToken: null }, old),
          accessTokenExpiresAt: null,
          tokenExpiresNever: true,
        });
        ids.push(row.id);
      }
      // A "refresh" holding one row for a moment.
      const holder = await isolated.pool.connect();
      await holder.query("BEGIN");
      await holder.query("SELECT 1 FROM connections WHERE id = $1 FOR UPDATE", [ids[1]]);
      const release = setTimeout(() => {
        void holder.query("COMMIT").finally(() => holder.release());
      }, 300);

      const summary = await reencryptConnections(isolated.pool, cipherFor({ k1, k2 }, "k2"), {
        maxPasses: 10,
        passDelayMs: 100,
      });
      clearTimeout(release);
      expect(summary).toMatchObject({ total: 3, reencrypted: 3, remaining: 0, failed: [] });
      expect(summary.passes).toBeGreaterThan(1);
    } finally {
      await isolatedPrisma.$disconnect();
      await isolated.drop();
    }
  });
});
