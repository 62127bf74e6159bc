import { z } from "zod";
import { defineEvent } from "../define-event.ts";
import { text, userId } from "../fields.ts";

/** Status scale of each kind of health subject. */
export const healthStatuses = {
  connection: ["healthy", "warning", "critical"],
  contact: ["healthy", "at_risk", "critical", "ghost"],
  deal: ["healthy", "warning", "critical", "stalled"],
} as const;
export type HealthSubjectKind = keyof typeof healthStatuses;
export type HealthStatus<K extends HealthSubjectKind = HealthSubjectKind> =
  (typeof healthStatuses)[K][number];

const score = z.number().int().min(0).max(100);

/** The fields every kind shares; the status scale depends on the kind. */
function healthChange<K extends HealthSubjectKind>(kind: K, subjectDescription: string) {
  const status = z.enum(healthStatuses[kind]);
  return z
    .object({
      subjectKind: z.literal(kind).describe("What the score is about"),
      subjectId: z.uuid().describe(subjectDescription),
      userId,
      previousStatus: status
        .nullable()
        .describe("Status before this change; null for the first score of this subject"),
      status: status.describe("Status after this change"),
      score: score.describe("New score, a whole number from 0 (worst) to 100 (best)"),
      previousScore: score.nullable().describe("Score before this change; null for the first score"),
      components: z
        .record(z.string().min(1), z.number().min(0).max(1))
        .describe(
          "The parts the score was computed from, by name (e.g. recency, frequency), each rated 0 (worst) to 1 (best), so it can be explained; ghostRisk is rated like the others (1: no unanswered outreach)",
        ),
      reason: text(500).describe("Short explanation of what changed, for people and notification texts"),
    })
    .strict();
}

export const healthChanged = defineEvent({
  type: "health.changed",
  version: 1,
  description:
    "The health scorer saw a health status change, or a score move past a threshold (never on every recompute). Subjects: connection health (healthy/warning/critical), relationship health of a contact (healthy/at_risk/critical/ghost) and deal health (healthy/warning/critical/stalled).",
  subjectPattern: "health.changed",
  data: z.discriminatedUnion("subjectKind", [
    healthChange("connection", "Connection id"),
    healthChange("contact", "Contact id"),
    healthChange("deal", "Deal id"),
  ]),
  examples: [
    {
      id: "01a1fd9a-4c87-7c40-9b12-000000000501",
      type: "health.changed",
      version: 1,
      occurredAt: "2026-11-21T10:15:10.215Z",
      source: "health-scorer",
      data: {
        subjectKind: "contact",
        subjectId: "0193a2d4-3c91-7b0e-8f55-6a7b8c9d0e01",
        userId: "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b01",
        previousStatus: "at_risk",
        status: "ghost",
        score: 18,
        previousScore: 41,
        components: { frequency: 0.2, recency: 0.05, reciprocity: 0.1, meetingCadence: 0.3, ghostRisk: 0.08 },
        reason: "No reply to the last 4 messages in 38 days",
      },
    },
    {
      id: "01a1fd91-0dac-7c40-9b12-000000000502",
      type: "health.changed",
      version: 1,
      occurredAt: "2026-11-21T10:05:04.300Z",
      source: "health-scorer",
      data: {
        subjectKind: "connection",
        subjectId: "0193a0f1-55c2-7d10-9a3e-4c2b8f1e0a04",
        userId: "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b03",
        previousStatus: "healthy",
        status: "critical",
        score: 0,
        previousScore: 96,
        components: { tokenState: 0, failureStreak: 0.5, syncFreshness: 0.9 },
        reason: "Google access was revoked (invalid_grant); the user must reconnect",
      },
    },
    {
      id: "01a1fdc3-62b7-7c40-9b12-000000000503",
      type: "health.changed",
      version: 1,
      occurredAt: "2026-11-21T11:00:02.871Z",
      source: "health-scorer",
      data: {
        subjectKind: "deal",
        subjectId: "0193a3e5-1f20-7d6a-a0b1-2c3d4e5f6a01",
        userId: "0193a0f0-0b7e-7a41-8c65-2f9d3e4a5b01",
        previousStatus: null,
        status: "stalled",
        score: 22,
        previousScore: null,
        components: { stageVelocity: 0.15, activityRecency: 0.3 },
        reason: "In stage proposal for 34 days (expected 14), no activity for 19 days",
      },
    },
  ],
});
