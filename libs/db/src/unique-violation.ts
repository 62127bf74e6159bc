/**
 * The unique index or constraint a write violated, or undefined when the error is not a unique
 * violation: from `pg` (SQLSTATE 23505, `constraint`) and from Prisma Client over the pg adapter
 * (P2002). Prisma 7 gives the index name only inside `meta.driverAdapterError`, a shape it does not
 * document: this is the one place that reads it.
 */
export function uniqueViolation(err: unknown): string | undefined {
  const e = err as { code?: unknown; constraint?: unknown; meta?: unknown } | null | undefined;
  if (e?.code === "23505") return typeof e.constraint === "string" ? e.constraint : undefined;
  if (e?.code !== "P2002") return undefined;
  const meta = e.meta as
    | { driverAdapterError?: { cause?: { constraint?: { index?: unknown } } }; target?: unknown }
    | undefined;
  const index = meta?.driverAdapterError?.cause?.constraint?.index;
  if (typeof index === "string") return index;
  return typeof meta?.target === "string" ? meta.target : undefined;
}
