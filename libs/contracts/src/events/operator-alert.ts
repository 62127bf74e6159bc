import { z } from "zod";
import { defineEvent } from "../define-event.ts";
import { code, providerName, text } from "../fields.ts";

export const alertSeverities = ["warning", "critical"] as const;
export type AlertSeverity = (typeof alertSeverities)[number];

export const operatorAlert = defineEvent({
  type: "operator.alert",
  version: 1,
  description:
    "Something the people running Syncwell must fix, not the user: a provider client misconfigured (invalid_client, unauthorized_client), a provider's quota exhausted, a consumer dead-lettering. Never carries secrets.",
  subjectPattern: "operator.alert",
  data: z
    .object({
      severity: z.enum(alertSeverities).describe("warning: degraded; critical: users are affected now"),
      code: code.describe("What is wrong, e.g. provider_misconfigured, provider_quota_exhausted"),
      provider: providerName.optional().describe("Provider concerned, when there is one"),
      message: text(1000).describe("What happened and what to check"),
      details: z
        .record(z.string().min(1), z.union([z.string(), z.number(), z.boolean(), z.null()]))
        .optional()
        .describe("Flat extra facts (counts, ids, error codes); values are scalars and never secrets"),
    })
    .strict(),
  examples: [
    {
      id: "01a1fd91-0a11-7e62-9f03-000000000801",
      type: "operator.alert",
      version: 1,
      occurredAt: "2026-11-21T10:05:03.377Z",
      source: "token-service",
      data: {
        severity: "critical",
        code: "provider_misconfigured",
        provider: "github",
        message:
          "GitHub rejected Syncwell's client credentials (invalid_client). Check GITHUB_CLIENT_ID / GITHUB_CLIENT_SECRET; users are not being disconnected.",
        details: {
          errorCode: "invalid_client",
          affectedConnections: 37,
          firstSeenAt: "2026-11-21T10:05:01.902Z",
        },
      },
    },
  ],
});
