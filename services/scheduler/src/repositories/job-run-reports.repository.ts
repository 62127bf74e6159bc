import {
  type JobRunRecord,
  type JobRunRow,
  type JobRunStatus,
  type Queryable,
  toJobRunRecord,
} from "@syncwell/db";

/**
 * The scheduler's reads of job_runs (the writes every service shares live in @syncwell/db).
 * The SQL here is also what services/scheduler/README.md documents for operators.
 */

/** Slot of the schedule's latest scheduled run; manual runs do not count (their slot is "now"). */
export async function lastScheduledRunSlot(db: Queryable, schedule: string): Promise<Date | null> {
  const { rows } = await db.query<{ slot: Date }>(
    "SELECT slot FROM job_runs WHERE schedule = $1 AND NOT manual ORDER BY slot DESC LIMIT 1",
    [schedule],
  );
  return rows[0]?.slot ?? null;
}

/** The latest run (scheduled or manual) of each of the given schedules. */
export async function latestRuns(db: Queryable, schedules: string[]): Promise<Map<string, JobRunRecord>> {
  if (schedules.length === 0) return new Map();
  // One index probe per schedule on (schedule, slot) rather than a scan of the whole table.
  const { rows } = await db.query<JobRunRow>(
    `SELECT r.* FROM unnest($1::text[]) AS s(name)
     CROSS JOIN LATERAL (
       SELECT * FROM job_runs WHERE schedule = s.name ORDER BY slot DESC LIMIT 1
     ) AS r`,
    [schedules],
  );
  return new Map(rows.map((row) => [row.schedule, toJobRunRecord(row)]));
}

export type ListJobRunsQuery = {
  schedule?: string | undefined;
  status?: JobRunStatus | undefined;
  /** Only runs whose slot is before this (the previous page's last slot). */
  before?: Date | undefined;
  limit: number;
};

/** Runs, latest slot first. */
export async function listJobRuns(db: Queryable, query: ListJobRunsQuery): Promise<JobRunRecord[]> {
  const { rows } = await db.query<JobRunRow>(
    `SELECT * FROM job_runs
     WHERE ($1::text IS NULL OR schedule = $1)
       AND ($2::text IS NULL OR status = $2)
       AND ($3::timestamptz IS NULL OR slot < $3)
     ORDER BY slot DESC, id DESC
     LIMIT $4`,
    [query.schedule ?? null, query.status ?? null, query.before ?? null, query.limit],
  );
  return rows.map(toJobRunRecord);
}

export type JobRunStats = {
  schedule: string;
  runs: number;
  succeeded: number;
  failed: number;
  partial: number;
  running: number;
  catchUp: number;
  manual: number;
  /** succeeded / finished runs (running ones excluded); null when none finished. */
  successRate: number | null;
  p50DurationMs: number | null;
  p95DurationMs: number | null;
  maxDurationMs: number | null;
  lastStartedAt: Date | null;
};

type StatsRow = {
  schedule: string;
  runs: number;
  succeeded: number;
  failed: number;
  partial: number;
  running: number;
  catch_up: number;
  manual: number;
  success_rate: string | null;
  p50_ms: number | null;
  p95_ms: number | null;
  max_ms: number | null;
  last_started_at: Date | null;
};

export const JOB_RUN_STATS_SQL = `SELECT schedule,
       count(*)::int                                          AS runs,
       count(*) FILTER (WHERE status = 'succeeded')::int      AS succeeded,
       count(*) FILTER (WHERE status = 'failed')::int         AS failed,
       count(*) FILTER (WHERE status = 'partial')::int        AS partial,
       count(*) FILTER (WHERE status = 'running')::int        AS running,
       count(*) FILTER (WHERE catch_up)::int                  AS catch_up,
       count(*) FILTER (WHERE manual)::int                    AS manual,
       round(count(*) FILTER (WHERE status = 'succeeded')::numeric
             / nullif(count(*) FILTER (WHERE status <> 'running'), 0), 4) AS success_rate,
       percentile_cont(0.5)  WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
       max(duration_ms)                                       AS max_ms,
       max(started_at)                                        AS last_started_at
FROM job_runs
WHERE started_at >= now() - make_interval(days => $1)
GROUP BY schedule
ORDER BY schedule`;

/** Per schedule over the last `days` days: outcomes, success rate and duration percentiles. */
export async function jobRunStats(db: Queryable, days: number): Promise<JobRunStats[]> {
  const { rows } = await db.query<StatsRow>(JOB_RUN_STATS_SQL, [days]);
  const ms = (v: number | null) => (v === null ? null : Math.round(v));
  return rows.map((r) => ({
    schedule: r.schedule,
    runs: r.runs,
    succeeded: r.succeeded,
    failed: r.failed,
    partial: r.partial,
    running: r.running,
    catchUp: r.catch_up,
    manual: r.manual,
    successRate: r.success_rate === null ? null : Number(r.success_rate),
    p50DurationMs: ms(r.p50_ms),
    p95DurationMs: ms(r.p95_ms),
    maxDurationMs: r.max_ms,
    lastStartedAt: r.last_started_at,
  }));
}
