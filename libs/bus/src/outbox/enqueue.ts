import type { Context } from "@opentelemetry/api";
import { type AnyEvent, subjectOf } from "@syncwell/contracts";
import type { Queryable } from "@syncwell/db";
import { assertValidEvent } from "../publisher.ts";
import { traceContextRecord } from "../trace-context.ts";

/**
 * The column values of one `outbox_events` row (`id, subject, type, payload, trace_headers`, the
 * last two as JSON text), after validating the event; the current trace context is captured.
 * For a writer that inserts its outbox row inside a larger statement of its own (enqueueEvents is
 * the usual way).
 */
export type OutboxRow = { id: string; subject: string; type: string; payload: string; traceHeaders: string };

export function outboxRow(event: AnyEvent, trace: string = JSON.stringify(traceContextRecord())): OutboxRow {
  assertValidEvent(event);
  return {
    id: event.id,
    subject: subjectOf(event),
    type: event.type,
    payload: JSON.stringify(event),
    traceHeaders: trace,
  };
}

/** Prisma Client or an interactive transaction's client (`PrismaDb`): the rows go in by its raw SQL. */
type RawSqlClient = { $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number> };

/**
 * Writes events to the outbox in the caller's transaction: they are published if and only if the
 * transaction commits, even if the process dies right after the commit. The current trace context
 * is stored with each row so the relay's publish continues the caller's trace; a writer applying
 * several events at once passes `contextOf`, the trace of the event each announcement answers
 * (undefined: the current one). `db` is a `pg` client, or the Prisma client of the interactive
 * transaction that makes the change announced.
 */
export async function enqueueEvents(
  db: Queryable | RawSqlClient,
  events: AnyEvent | readonly AnyEvent[],
  options: { contextOf?: (event: AnyEvent) => Context | undefined } = {},
): Promise<void> {
  const list = Array.isArray(events) ? events : [events as AnyEvent];
  if (list.length === 0) return;
  const current = JSON.stringify(traceContextRecord());
  const values: unknown[] = [];
  const rows = list.map((event, i) => {
    const own = options.contextOf?.(event);
    const row = outboxRow(event, own === undefined ? current : JSON.stringify(traceContextRecord(own)));
    values.push(row.id, row.subject, row.type, row.payload, row.traceHeaders);
    const o = i * 5;
    return `($${o + 1}, $${o + 2}, $${o + 3}, $${o + 4}::jsonb, $${o + 5}::jsonb)`;
  });
  const insert = `INSERT INTO outbox_events (id, subject, type, payload, trace_headers) VALUES ${rows.join(", ")}
     ON CONFLICT (id) DO NOTHING`;
  if ("$executeRawUnsafe" in db) await db.$executeRawUnsafe(insert, ...values);
  else await db.query(insert, values);
}
