import type { HealthSubjectKind } from "@syncwell/contracts";
import type { Prisma, PrismaDb } from "@syncwell/db";

/** The API's read of a subject's health: the current score and its latest changes, under its user. */

export type ScoreRow = Prisma.HealthScoreGetPayload<object>;
export type HistoryRow = Prisma.HealthScoreHistoryGetPayload<object>;

export async function findScore(
  db: PrismaDb,
  userId: string,
  subject: { type: HealthSubjectKind; id: string },
): Promise<ScoreRow | undefined> {
  const row = await db.healthScore.findFirst({
    where: { subjectType: subject.type, subjectId: subject.id, userId },
  });
  return row ?? undefined;
}

/** The subject's newest `limit` changes, newest first (the history index's order). */
export async function latestHistory(
  db: PrismaDb,
  userId: string,
  subject: { type: HealthSubjectKind; id: string },
  limit: number,
): Promise<HistoryRow[]> {
  if (limit === 0) return [];
  return db.healthScoreHistory.findMany({
    where: { subjectType: subject.type, subjectId: subject.id, userId },
    orderBy: [{ computedAt: "desc" }, { id: "desc" }],
    take: limit,
  });
}
