import pg from "pg";
import { describe, expect, it } from "vitest";
import { isDatabaseUnavailable } from "./unavailable.ts";

describe("isDatabaseUnavailable", () => {
  it("is true for an unreachable server and false for a wrong statement (real Postgres)", async () => {
    const refused = new pg.Client({ connectionString: "postgresql://postgres@127.0.0.1:1/postgres" });
    const connectError = await refused.connect().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isDatabaseUnavailable(connectError)).toBe(true);

    const url = process.env.SYNCWELL_TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const syntaxError = await client.query("SELEC 1").then(
      () => undefined,
      (err: unknown) => err,
    );
    await client.end();
    expect(isDatabaseUnavailable(syntaxError)).toBe(false);
  });

  it.each([
    [{ code: "08006" }, true],
    [{ code: "57P01" }, true],
    [{ code: "53300" }, true],
    [{ message: "Connection terminated unexpectedly" }, true],
    [{ message: "timeout exceeded when trying to connect" }, true],
    [{ code: "23505" }, false],
    [{ code: "40001" }, false],
    [new Error("boom"), false],
    [undefined, false],
  ])("%o → %s", (err, expected) => {
    expect(isDatabaseUnavailable(err)).toBe(expected);
  });
});
