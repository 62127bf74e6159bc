import type pg from "pg";
import type { Schedule } from "../domain/schedule.ts";

/** What the scheduler's routes need. */
export type RouteDeps = {
  pool: pg.Pool;
  schedules: Schedule[];
  clock: () => Date;
};
