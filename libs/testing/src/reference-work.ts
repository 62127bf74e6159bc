/**
 * A fixed amount of CPU work, timed in Node and in a Postgres backend, printed beside a benchmark's
 * results. The machines these benchmarks run on differ, and so does one VM from day to day (figures
 * in docs/decisions/0013): two runs are only comparable when their reference times are close, and
 * a result can be scaled by the ratio when they are not.
 */
import type { Queryable } from "@syncwell/db";
import { median } from "./measure.ts";

export type ReferenceTimes = { nodeMs: number; postgresMs: number };

/** A page-like document: 2,000 items of about 500 bytes. */
const document = JSON.stringify(
  Array.from({ length: 2_000 }, (_, i) => ({
    id: `item-${i}`,
    title: `Item number ${i} with a title of some length`,
    tags: ["alpha", "beta", "gamma"],
    count: i * 7,
    nested: { a: i % 3 === 0, b: null, text: "x".repeat(200), when: new Date(i * 1_000).toISOString() },
  })),
);

/**
 * The median of three rounds: JSON.parse + JSON.stringify of about 1 MB, 10 times; the same
 * document parsed into jsonb 10 times (timed from here: one round trip, on a quiet machine).
 */
export async function referenceWork(db: Queryable): Promise<ReferenceTimes> {
  const node: number[] = [];
  const postgres: number[] = [];
  for (let round = 0; round < 3; round++) {
    const started = performance.now();
    for (let i = 0; i < 10; i++) JSON.stringify(JSON.parse(document));
    node.push(performance.now() - started);
    // Each row's text differs ('[1, …]', '[2, …]'), so the jsonb is parsed once per row.
    const before = performance.now();
    await db.query(
      `SELECT sum(jsonb_array_length(('[' || g || $1::text)::jsonb -> 1)) FROM generate_series(1, 10) g`,
      [`, ${document}]`],
    );
    postgres.push(performance.now() - before);
  }
  return { nodeMs: median(node), postgresMs: median(postgres) };
}

export function formatReference(times: ReferenceTimes): string {
  return `node ${times.nodeMs.toFixed(0)} ms, postgres ${times.postgresMs.toFixed(0)} ms (fixed CPU work, lower is a faster machine)`;
}
