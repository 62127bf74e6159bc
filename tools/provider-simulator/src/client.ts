/**
 * Typed client for the simulator's control API, for tests and benchmarks in other packages:
 *
 *   const sim = new SimulatorControl(url);
 *   const grant = await sim.createGrant({ provider: "spotify", connectionKey: "c1" });
 *   await sim.addFault({ connectionKey: "c1", fault: { kind: "status", status: 503 }, times: 3 });
 *   expect((await sim.requests({ connectionKey: "c1" })).some((r) => r.reusedRefreshToken)).toBe(false);
 *   expect((await sim.stats()).reusedRefreshTokens).toBe(0); // also after the log has wrapped
 *
 *   // data APIs: point a client at sim.apiUrl("gmail") instead of https://gmail.googleapis.com
 *   await sim.addData("gmail", "messages", { connectionKey: "c1", items: [{ from: "Ann <Ann@X.io>" }] });
 *   await sim.expireCursors({ connectionKey: "c1", resource: "calendar" });
 */
import type { calendarEvents } from "./data/calendar.ts";
import type { DataPlatform, ResourceSpec } from "./data/dataset.ts";
import type { discordGuilds } from "./data/discord.ts";
import type { githubEvents, githubRepos } from "./data/github.ts";
import type { gmailMessages } from "./data/gmail.ts";
import type { spotifyRecentlyPlayed, spotifyTopTracks } from "./data/spotify.ts";
import type { youtubeLikes } from "./data/youtube.ts";
import type { ReceivedEmail } from "./emails.ts";
import type { ScriptedFault } from "./faults.ts";
import type { CreatedGrant, GrantView } from "./grants.ts";
import { defaultClientId, defaultClientSecret, type ProviderId } from "./providers.ts";
import type { RateLimitConfig } from "./rate-limit.ts";
import type { AddDataBody, AddDataResult } from "./routes/control/add-data.route.ts";
import type { AddFaultBody } from "./routes/control/add-fault.route.ts";
import type { ClearFaultsQuery } from "./routes/control/clear-faults.route.ts";
import type { CreateGrantBody } from "./routes/control/create-grant.route.ts";
import type { DataStats } from "./routes/control/data-stats.route.ts";
import type { ExpireCursorsBody, ExpireCursorsResult } from "./routes/control/expire-cursors.route.ts";
import type { ListEmailsQuery, ListEmailsResult } from "./routes/control/list-emails.route.ts";
import type { ListRequestsQuery } from "./routes/control/list-requests.route.ts";
import type { RevokeBody } from "./routes/control/revoke.route.ts";
import type {
  SetEmailRateLimitBody,
  SetEmailRateLimitResult,
} from "./routes/control/set-email-rate-limit.route.ts";
import type { SetLatencyBody } from "./routes/control/set-latency.route.ts";
import type { SetParticipantsBody, SetParticipantsResult } from "./routes/control/set-participants.route.ts";
import type { SetRateLimitBody, SetRateLimitResult } from "./routes/control/set-rate-limit.route.ts";
import type { UpsertClientBody } from "./routes/control/upsert-client.route.ts";
import type { Client, Latency, RequestLogEntry, SimulatorStats } from "./state.ts";

export type {
  AddDataBody,
  AddDataResult,
  AddFaultBody,
  ClearFaultsQuery,
  CreateGrantBody,
  DataPlatform,
  DataStats,
  ExpireCursorsBody,
  ExpireCursorsResult,
  ListEmailsQuery,
  ListEmailsResult,
  ListRequestsQuery,
  ReceivedEmail,
  RevokeBody,
  SetEmailRateLimitBody,
  SetEmailRateLimitResult,
  SetLatencyBody,
  SetParticipantsBody,
  SetParticipantsResult,
  SetRateLimitBody,
  SetRateLimitResult,
  SimulatorStats,
  UpsertClientBody,
};

type InputOf<S> = S extends ResourceSpec<infer _Item, infer Input> ? Input : never;

/** The item fields `addData(platform, resource, { items })` takes, per platform and resource. */
export type DataItemInputs = {
  spotify: {
    "recently-played": InputOf<typeof spotifyRecentlyPlayed>;
    "top-tracks": InputOf<typeof spotifyTopTracks>;
  };
  youtube: { "liked-videos": InputOf<typeof youtubeLikes> };
  github: { repos: InputOf<typeof githubRepos>; events: InputOf<typeof githubEvents> };
  discord: { guilds: InputOf<typeof discordGuilds> };
  gmail: { messages: InputOf<typeof gmailMessages> };
  calendar: { events: InputOf<typeof calendarEvents> };
};

export class SimulatorControlError extends Error {
  readonly status: number;
  readonly body: unknown;

  constructor(method: string, path: string, status: number, body: unknown) {
    const message =
      typeof body === "object" && body !== null && "message" in body
        ? String(body.message)
        : JSON.stringify(body);
    super(`simulator ${method} ${path} failed with ${status}: ${message}`);
    this.name = "SimulatorControlError";
    this.status = status;
    this.body = body;
  }
}

type Query = Record<string, string | number | undefined>;

export class SimulatorControl {
  /** Base URL without a trailing slash. */
  readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;

  constructor(baseUrl: string | URL, options: { fetch?: typeof fetch } = {}) {
    this.baseUrl = String(baseUrl).replace(/\/+$/, "");
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** `POST` target for a provider's refresh requests. */
  tokenUrl(provider: ProviderId): string {
    return `${this.baseUrl}/${provider}/oauth/token`;
  }

  /**
   * Base URL that stands in for a platform's API origin: `${apiUrl("gmail")}/gmail/v1/users/me/messages`
   * mirrors `https://gmail.googleapis.com/gmail/v1/users/me/messages` (see README for each platform).
   */
  apiUrl(platform: DataPlatform): string {
    return `${this.baseUrl}/${platform}`;
  }

  /**
   * Base URL that stands in for `https://api.resend.com`: the Resend SDK's `baseUrl` option (or
   * `RESEND_BASE_URL`), which sends to `${emailApiUrl()}/emails`.
   */
  emailApiUrl(): string {
    return this.baseUrl;
  }

  /** The client pair every simulator registers for a provider until told otherwise. */
  static defaultCredentials(provider: ProviderId): { clientId: string; clientSecret: string } {
    return { clientId: defaultClientId(provider), clientSecret: defaultClientSecret(provider) };
  }

  createGrant(input: CreateGrantBody): Promise<CreatedGrant> {
    return this.call<CreatedGrant>("POST", "/_control/grants", input);
  }

  async grants(filter: { provider?: ProviderId; connectionKey?: string } = {}): Promise<GrantView[]> {
    return (await this.call<{ grants: GrantView[] }>("GET", "/_control/grants", undefined, filter)).grants;
  }

  addFault(input: AddFaultBody): Promise<ScriptedFault> {
    return this.call<ScriptedFault>("POST", "/_control/faults", input);
  }

  async faults(): Promise<ScriptedFault[]> {
    return (await this.call<{ faults: ScriptedFault[] }>("GET", "/_control/faults")).faults;
  }

  /** Removes all faults, or those matching the filter; resolves to how many were removed. */
  async clearFaults(filter: ClearFaultsQuery = {}): Promise<number> {
    return (await this.call<{ cleared: number }>("DELETE", "/_control/faults", undefined, filter)).cleared;
  }

  async requests(filter: ListRequestsQuery = {}): Promise<RequestLogEntry[]> {
    const query: Query = { ...filter };
    return (await this.call<{ requests: RequestLogEntry[] }>("GET", "/_control/requests", undefined, query))
      .requests;
  }

  /**
   * Token-endpoint counters since start or the last reset: `reusedRefreshTokens` counts requests
   * that presented a spent refresh token, `grantsRevokedForReuse` the grants that cost. Cheap to
   * poll from a benchmark, unlike the request log.
   */
  stats(): Promise<SimulatorStats> {
    return this.call<SimulatorStats>("GET", "/_control/stats");
  }

  async reset(): Promise<void> {
    await this.call<undefined>("POST", "/_control/reset");
  }

  /** Revokes the grant(s); resolves to the grants now revoked. */
  async revoke(input: RevokeBody): Promise<GrantView[]> {
    return (await this.call<{ revoked: GrantView[] }>("POST", "/_control/revoke", input)).revoked;
  }

  setLatency(input: SetLatencyBody): Promise<Latency> {
    return this.call<Latency>("PUT", "/_control/latency", input);
  }

  /** Sets a token (default) or data rate limit; resolves to the limits now in force for that scope. */
  async setRateLimit(input: SetRateLimitBody): Promise<Partial<Record<ProviderId, RateLimitConfig>>> {
    const result = await this.call<SetRateLimitResult>("PUT", "/_control/rate-limits", input);
    return input.scope === "data" ? result.dataRateLimits : result.rateLimits;
  }

  /**
   * The platform got new data for a connection: `count` generated items and/or explicit `items`,
   * newer than everything before, so an incremental sync returns exactly these. Resolves to them
   * as the platform's API shows them.
   */
  addData<P extends DataPlatform, R extends keyof DataItemInputs[P] & string>(
    platform: P,
    resource: R,
    input: AddDataBody<DataItemInputs[P][R]>,
  ): Promise<AddDataResult> {
    return this.call<AddDataResult>("POST", `/_control/data/${platform}/${resource}`, input);
  }

  /** Who a Google account corresponds with (Gmail From/To/Cc, Calendar attendees); null restores the defaults. */
  setParticipants(input: SetParticipantsBody): Promise<SetParticipantsResult> {
    return this.call<SetParticipantsResult>("PUT", "/_control/data/participants", input);
  }

  /** Gmail history ids and Calendar sync tokens handed out so far stop working (404 / 410). */
  async expireCursors(input: ExpireCursorsBody): Promise<string[]> {
    return (await this.call<ExpireCursorsResult>("POST", "/_control/data/expire-cursors", input)).expired;
  }

  /** Generated accounts in memory and the resources served. */
  dataStats(): Promise<DataStats> {
    return this.call<DataStats>("GET", "/_control/data");
  }

  /** Emails `POST /emails` accepted (each sent once), oldest first. */
  async emails(filter: ListEmailsQuery = {}): Promise<ReceivedEmail[]> {
    return (await this.emailStats(filter)).emails;
  }

  /** The accepted emails with the counters: `sent`, and `replayed` (idempotent replays, nothing sent). */
  emailStats(filter: ListEmailsQuery = {}): Promise<ListEmailsResult> {
    return this.call<ListEmailsResult>("GET", "/_control/emails", undefined, { ...filter });
  }

  /** Forgets emails, idempotency keys, counters and the email rate limit. */
  async clearEmails(): Promise<void> {
    await this.call<undefined>("DELETE", "/_control/emails");
  }

  /** Resend's team-wide limit on `POST /emails`; `requestsPerSecond: null` turns it off. */
  async setEmailRateLimit(input: SetEmailRateLimitBody): Promise<SetEmailRateLimitResult> {
    return this.call<SetEmailRateLimitResult>("PUT", "/_control/emails/rate-limit", input);
  }

  upsertClient(input: UpsertClientBody): Promise<Omit<Client, "clientSecret">> {
    return this.call<Omit<Client, "clientSecret">>("PUT", "/_control/clients", input);
  }

  private async call<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const response = await this.fetchImpl(url, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = text;
    }
    if (!response.ok) throw new SimulatorControlError(method, path, response.status, parsed);
    return parsed as T;
  }
}
