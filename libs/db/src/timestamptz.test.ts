import { createTestDatabase } from "@syncwell/testing";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { createPool } from "./pool.ts";
import { parseTimestamptz } from "./timestamptz.ts";

const nodePostgres = pg.types.getTypeParser(1184, "text") as (text: string) => Date | number;

describe("parseTimestamptz", () => {
  it.each([
    // Read by position: a UTC session's form, fraction of 0 to 6 digits.
    "2026-12-07 18:00:00+00",
    "2026-12-07 18:00:00.1+00",
    "2026-12-07 18:00:00.12+00",
    "2026-12-07 18:00:00.123+00",
    "2026-12-07 18:00:00.123456+00",
    "2026-12-07 18:00:00.999999+00",
    "1970-01-01 00:00:00+00",
    "2024-02-29 23:59:59.5+00",
    "9999-12-31 23:59:59.999+00",
    "1000-01-01 00:00:00+00",
    // Handed to node-postgres's parser: other offsets, infinities, early, BC and long years, long fractions.
    "2026-12-07 18:00:00+01",
    "2026-12-07 18:00:00.5-07:30",
    "2026-12-07 18:00:00+05:30",
    "infinity",
    "-infinity",
    "0099-01-01 00:00:00+00",
    "0044-03-15 12:00:00+00 BC",
    "12026-01-01 00:00:00+00",
    "2026-12-07 18:00:00.1234567+00",
  ])("reads %s as node-postgres does", (text) => {
    expect(parseTimestamptz(text)).toEqual(nodePostgres(text));
  });

  it("reads the real server's timestamps through a project pool, in a UTC session or not", async () => {
    const db = await createTestDatabase();
    const utc = createPool(db.url, { sessionSettings: { TimeZone: "UTC" } });
    const india = createPool(db.url, { sessionSettings: { TimeZone: "Asia/Kolkata" } });
    try {
      const sql = `SELECT '2026-12-07 18:00:00.123456+00'::timestamptz AS a, '1999-01-01 00:00:00+00'::timestamptz AS b,
                          'infinity'::timestamptz AS c`;
      for (const pool of [utc, india]) {
        const { rows } = await pool.query(sql);
        expect(rows[0]).toEqual({
          a: new Date("2026-12-07T18:00:00.123Z"),
          b: new Date("1999-01-01T00:00:00.000Z"),
          c: Number.POSITIVE_INFINITY,
        });
      }
    } finally {
      await utc.end();
      await india.end();
      await db.drop();
    }
  });
});
