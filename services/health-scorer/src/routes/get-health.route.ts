import type { HealthSubjectKind } from "@syncwell/contracts";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  findScore,
  type HistoryRow,
  latestHistory,
  type ScoreRow,
} from "../repositories/health-reads.repository.ts";
import type { HealthRoutesDeps } from "./deps.ts";
import { notFound, parseRequest } from "./http.ts";

const subjectTypes = ["connection", "contact", "deal"] as const satisfies readonly HealthSubjectKind[];

export const getHealthParams = z.strictObject({
  userId: z.uuid(),
  subjectType: z.enum(subjectTypes),
  subjectId: z.uuid(),
});

export const getHealthQuery = z.strictObject({
  /** How many of the latest changes to include, newest first. */
  history: z.coerce.number().int().min(0).max(100).default(10),
});

export type HealthChangeView = {
  score: number;
  status: string;
  previousScore: number | null;
  previousStatus: string | null;
  components: unknown;
  computedAt: string;
};

export type HealthView = {
  subjectType: HealthSubjectKind;
  subjectId: string;
  userId: string;
  score: number;
  status: string;
  /** The parts the score was made of: what each measured, its weight and rating, and why. */
  components: unknown;
  /** The time window the inputs were read from. */
  window: { from: string; to: string };
  /** When the newest input the score reflects was recorded. */
  inputsAsOf: string;
  computedAt: string;
  history: HealthChangeView[];
};

function toHealthView(row: ScoreRow, history: HistoryRow[]): HealthView {
  return {
    subjectType: row.subjectType as HealthSubjectKind,
    subjectId: row.subjectId,
    userId: row.userId,
    score: row.score,
    status: row.status,
    components: row.components,
    window: { from: row.inputsFrom.toISOString(), to: row.inputsTo.toISOString() },
    inputsAsOf: row.inputsAsOf.toISOString(),
    computedAt: row.computedAt.toISOString(),
    history: history.map((change) => ({
      score: change.score,
      status: change.status,
      previousScore: change.previousScore,
      previousStatus: change.previousStatus,
      components: change.components,
      computedAt: change.computedAt.toISOString(),
    })),
  };
}

/**
 * GET /v1/users/:userId/health/:subjectType/:subjectId — the subject's current score with its
 * components and input window, and its latest `?history=` changes (default 10, at most 100). 404
 * when the subject has no score yet, is unknown, or belongs to another user (one answer for all).
 */
export function getHealthRoute(app: FastifyInstance, deps: HealthRoutesDeps): void {
  app.get("/v1/users/:userId/health/:subjectType/:subjectId", async (request, reply) => {
    const {
      params: { userId, subjectType, subjectId },
      query: { history },
    } = parseRequest({
      params: { schema: getHealthParams, value: request.params },
      query: { schema: getHealthQuery, value: request.query },
    });
    const subject = { type: subjectType, id: subjectId };
    const row = await findScore(deps.prisma, userId, subject);
    if (!row) return notFound(reply, `score for ${subjectType}`, subjectId);
    const changes = await latestHistory(deps.prisma, userId, subject, history);
    return reply.send(toHealthView(row, changes));
  });
}
