import type { healthChanged, tokenFailed, tokenRefreshed } from "@syncwell/contracts";
import type { z } from "zod";
import { type NotificationFacts, type NotificationKind, providerName } from "./notifications.ts";

/**
 * The words of each notification, in plain text (templates escape it). Built only from the event's
 * structured fields and the health scorer's `reason`, never from a provider's free text, so no
 * token or secret can reach a user's inbox.
 */

export type TokenFailedData = z.output<typeof tokenFailed.data>;
export type TokenRefreshedData = z.output<typeof tokenRefreshed.data>;
export type HealthChangedData = z.output<typeof healthChanged.data>;

export type Content = { title: string; body: string; actionUrl: string | null; facts: NotificationFacts };

type ConnectionKind = Extract<NotificationKind, `connection_${string}`>;

function times(n: number): string {
  return n === 1 ? "once" : `${n} times`;
}

export function tokenFailureContent(
  kind: Exclude<ConnectionKind, "connection_reconnected">,
  data: TokenFailedData,
  actionUrl: string | null,
): Content {
  const name = providerName(data.provider);
  const facts: NotificationFacts = {
    provider: data.provider,
    connectionId: data.connectionId,
    status: data.status,
    errorCode: data.errorCode,
    consecutiveFailures: data.consecutiveFailures,
    consecutiveTransientFailures: data.consecutiveTransientFailures,
    retryAt: data.retryAt,
  };
  switch (kind) {
    case "connection_warning":
      return {
        title: `Trouble reaching your ${name} account`,
        body: `Syncwell could not renew its access to your ${name} account ${times(data.consecutiveFailures)} in a row. It keeps trying; nothing to do yet.`,
        actionUrl: null,
        facts,
      };
    case "connection_rate_limited":
      return {
        title: `${name} is slowing Syncwell down`,
        body: `${name} turned Syncwell away ${times(data.consecutiveTransientFailures)} in a row. Syncing resumes by itself when ${name} lets it; nothing to do.`,
        actionUrl: null,
        facts,
      };
    case "connection_disconnected":
      return {
        title: `${name} is disconnected`,
        body: `Syncwell lost access to your ${name} account and has stopped syncing it. Reconnect it to resume.`,
        actionUrl,
        facts,
      };
  }
}

export function reconnectedContent(data: TokenRefreshedData): Content {
  const name = providerName(data.provider);
  return {
    title: `${name} is connected again`,
    body: `Syncwell has access to your ${name} account again and has resumed syncing it.`,
    actionUrl: null,
    facts: { provider: data.provider, connectionId: data.connectionId, previousStatus: data.previousStatus },
  };
}

const SUBJECT_WORD = { connection: "A connection", contact: "A relationship", deal: "A deal" } as const;

export function healthContent(data: HealthChangedData): Content {
  const title =
    data.status === "ghost"
      ? "A contact has gone quiet"
      : data.status === "stalled"
        ? "A deal has stalled"
        : `${SUBJECT_WORD[data.subjectKind]} needs attention`;
  return {
    title,
    body: data.reason,
    actionUrl: null,
    facts: {
      subjectKind: data.subjectKind,
      subjectId: data.subjectId,
      status: data.status,
      previousStatus: data.previousStatus,
      score: data.score,
      previousScore: data.previousScore,
    },
  };
}
