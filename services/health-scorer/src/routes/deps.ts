import type { PrismaClient } from "@syncwell/db";
import type { FastifyRequest } from "fastify";

/** A contact or deal whose rows an API write changed. */
export type ChangedSubject = { subjectType: "contact" | "deal"; subjectId: string };

/** What the API's routes need; `registerHealthRoutes` receives it from the service wiring. */
export type HealthRoutesDeps = {
  /** The routes' reads and writes, and their transactions. */
  prisma: PrismaClient;
  /** HEALTH_API_KEYS: every key is valid (rotation). */
  apiKeys: readonly string[];
  /**
   * Recomputes the scores of subjects a write changed, and of the open deals of its contacts (the
   * service's scoring), so a score reflects a new stage or a changed contact at once rather than at
   * the next sweep. Absent: the sweep does.
   */
  rescore?: (subjects: readonly ChangedSubject[]) => Promise<unknown>;
};

/**
 * Rescoring after a committed write: awaited, so a read that follows sees the new score, but its
 * failure only logged — the write stands, and the sweep recomputes the score later.
 */
export async function rescoreChanged(
  deps: HealthRoutesDeps,
  request: FastifyRequest,
  subjects: readonly ChangedSubject[],
): Promise<void> {
  if (!deps.rescore || subjects.length === 0) return;
  try {
    await deps.rescore(subjects);
  } catch (err) {
    request.log.warn(
      { err, subjects: subjects.length },
      "rescoring after an API write failed; the sweep will",
    );
  }
}
