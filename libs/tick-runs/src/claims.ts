import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Queryable } from "@syncwell/db";
import type { ActiveClaims } from "./shared-tick-runs.ts";

/** Where a service keeps its claims: the table and its lease column (the service's own constants). */
export type ClaimColumns = { table: string; claimedUntil: string };

/** Claims any replica holds now: how many, and when the first of them lapses (database time). */
export async function countActiveClaims(db: Queryable, claims: ClaimColumns): Promise<ActiveClaims> {
  const { rows } = await db.query<{ count: number; first: Date | null }>(
    `SELECT count(*)::int AS count, min(${claims.claimedUntil}) AS first
     FROM ${claims.table} WHERE ${claims.claimedUntil} > now()`,
  );
  return { count: rows[0]?.count ?? 0, firstExpiry: rows[0]?.first ?? null };
}

/** A claim holder's id, unique per process: host, pid and a random suffix (pids repeat across pods). */
export function newReplicaId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`.slice(0, 100);
}
