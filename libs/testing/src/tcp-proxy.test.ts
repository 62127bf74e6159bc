import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startTcpProxy } from "./tcp-proxy.ts";

const adminUrl = process.env.SYNCWELL_TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

describe("startTcpProxy", () => {
  const target = new URL(adminUrl);
  const proxyPromise = startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  afterAll(async () => (await proxyPromise).close());

  it("passes traffic, resets open connections and refuses new ones while cut, then passes again", async () => {
    const proxy = await proxyPromise;
    const client = new pg.Client({ connectionString: proxy.rewrite(adminUrl) });
    const errors: Error[] = [];
    client.on("error", (err) => errors.push(err));
    await client.connect();
    expect((await client.query<{ one: number }>("SELECT 1 AS one")).rows[0]?.one).toBe(1);
    expect(proxy.open).toBe(1);

    proxy.cut();
    await expect(client.query("SELECT 1")).rejects.toThrow();
    const refused = new pg.Client({
      connectionString: proxy.rewrite(adminUrl),
      connectionTimeoutMillis: 2_000,
    });
    await expect(refused.connect()).rejects.toThrow();

    proxy.restore();
    const again = new pg.Client({ connectionString: proxy.rewrite(adminUrl) });
    await again.connect();
    expect((await again.query<{ one: number }>("SELECT 1 AS one")).rows[0]?.one).toBe(1);
    await again.end();
    await client.end().catch(() => undefined);
  });
});
