import { randomUUID } from "node:crypto";
import { DataStore, DEFAULT_DATA_CACHE_SIZE, DEFAULT_DATA_ITEMS } from "./data/store.ts";
import { isoString } from "./data/time.ts";
import { EmailStore } from "./emails.ts";
import {
  type Fault,
  type FaultContext,
  type FaultKind,
  type FaultMatch,
  faultMatches,
  resourceCovers,
  type ScriptedFault,
} from "./faults.ts";
import {
  type AccessTokenCheck,
  type AccessTokenInfo,
  type CreatedGrant,
  type CreateGrantInput,
  type GrantFilter,
  GrantStore,
  type GrantView,
  type RefreshInput,
  type RefreshResult,
  type RefreshTokenPeek,
  type RevokeFilter,
} from "./grants.ts";
import { defaultClientId, defaultClientSecret, type ProviderId, providerIds } from "./providers.ts";
import { type RateLimitConfig, type RateLimitDecision, TokenBuckets } from "./rate-limit.ts";
import { RingBuffer } from "./ring-buffer.ts";

export const DEFAULT_REQUEST_LOG_CAPACITY = 100_000;

export type Client = { provider: ProviderId; clientId: string; clientSecret: string; allowed: boolean };

export type ClientAuthResult =
  | { ok: true; client: Client }
  | { ok: false; status: 400 | 401; error: "invalid_client" | "unauthorized_client"; description: string };

export type RequestLogEntry = {
  seq: number;
  time: string;
  /** `token` (the OAuth token endpoint), `data` (a platform's data API) or `email` (Resend). */
  endpoint: string;
  provider: string;
  /** Data requests: `<platform>.<resource>` (e.g. `gmail.messages`) and the path without query. */
  resource: string | null;
  path: string | null;
  grantId: string | null;
  connectionKey: string | null;
  clientId: string | null;
  /** HTTP status answered; null when the simulator never answered (fault `timeout`). */
  status: number | null;
  error: string | null;
  fault: FaultKind | null;
  /** A rotated-away (already used) refresh token was presented: the client replayed an old token. */
  reusedRefreshToken: boolean;
  rotated: boolean;
  durationMs: number;
};

export type RequestLogFilter = {
  endpoint?: string | undefined;
  provider?: string | undefined;
  /** A resource (`gmail.messages`) or platform (`gmail`). */
  resource?: string | undefined;
  connectionKey?: string | undefined;
  grantId?: string | undefined;
  /** Only entries with seq greater than this. */
  since?: number | undefined;
  /** At most this many (the newest ones), still oldest first. */
  limit?: number | undefined;
};

export type SimulatorStateOptions = {
  latencyMs?: number;
  latencyJitterMs?: number;
  requestLogCapacity?: number;
  /** Clock in epoch ms; injectable so tests can move time (token expiry). */
  now?: () => number;
  /**
   * Uniform in [0, 1), like Math.random (the default): decides which requests a fault with a
   * `ratio` picks, and the latency jitter. Injectable so tests can script the draws.
   */
  random?: () => number;
  /** Extra or replacement clients registered at start and after every reset. */
  clients?: ReadonlyArray<UpsertClientInput>;
  /** Initial items per data resource: a seeded count in [min, max] (default 25–60). */
  dataItems?: { min: number; max: number };
  /** Accounts whose generated data is kept (LRU; default 20,000). */
  dataCacheSize?: number;
  /** Generated data lies before this instant (epoch ms); default: start-up (and reset) time. */
  dataEpoch?: number;
};

export type RateLimitScope = "token" | "data";

export type UpsertClientInput = {
  provider: ProviderId;
  clientId: string;
  clientSecret: string;
  allowed?: boolean | undefined;
  /** Remove the provider's other clients (e.g. the default pair) first. */
  replace?: boolean | undefined;
};

export type Latency = { ms: number; jitterMs: number };

/**
 * Token-endpoint counters for benchmarks and tests. Kept as counters, not derived from the request
 * log, so they stay exact (and cheap) after the bounded log has dropped old entries.
 */
export type SimulatorStats = {
  /** Token requests logged, whatever they were answered. */
  tokenRequests: number;
  /** Token requests that rotated the refresh token (the answer may still have been lost). */
  rotations: number;
  /** Token requests that presented an already rotated (spent) refresh token. */
  reusedRefreshTokens: number;
  /** Grants revoked because a spent refresh token came back (RFC 9700 §4.14.2). */
  grantsRevokedForReuse: number;
};

type TokenCounters = Omit<SimulatorStats, "grantsRevokedForReuse">;

function zeroTokenCounters(): TokenCounters {
  return { tokenRequests: 0, rotations: 0, reusedRefreshTokens: 0 };
}

function clientKey(provider: string, clientId: string): string {
  return `${provider}\u0000${clientId}`;
}

/** Everything the simulator remembers. Pure in-memory; `reset()` forgets it all. */
export class SimulatorState {
  readonly now: () => number;
  private readonly random: () => number;
  private readonly options: SimulatorStateOptions;
  private readonly clients = new Map<string, Client>();
  private readonly grants: GrantStore;
  private faults: ScriptedFault[] = [];
  private readonly rateLimits: Record<RateLimitScope, Map<ProviderId, RateLimitConfig>> = {
    token: new Map(),
    data: new Map(),
  };
  private readonly buckets: Record<RateLimitScope, TokenBuckets> = {
    token: new TokenBuckets(),
    data: new TokenBuckets(),
  };
  /** The platforms' data (mailboxes, calendars, plays …), generated per account on first use. */
  readonly data: DataStore;
  /** Emails accepted by the Resend-compatible endpoint, its idempotency keys and rate limit. */
  readonly emails: EmailStore;
  private readonly log: RingBuffer<RequestLogEntry>;
  private seq = 0;
  private tokenCounters = zeroTokenCounters();
  latency: Latency;

  constructor(options: SimulatorStateOptions = {}) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.grants = new GrantStore(this.now);
    this.log = new RingBuffer(options.requestLogCapacity ?? DEFAULT_REQUEST_LOG_CAPACITY);
    this.emails = new EmailStore(this.now, options.requestLogCapacity ?? DEFAULT_REQUEST_LOG_CAPACITY);
    this.latency = { ms: options.latencyMs ?? 0, jitterMs: options.latencyJitterMs ?? 0 };
    this.data = new DataStore({
      items: options.dataItems ?? DEFAULT_DATA_ITEMS,
      capacity: options.dataCacheSize ?? DEFAULT_DATA_CACHE_SIZE,
      epoch: this.dataEpoch(),
    });
    this.registerDefaultClients();
  }

  private dataEpoch(): number {
    return this.options.dataEpoch ?? Math.floor(this.now() / 1000) * 1000;
  }

  /**
   * Forget grants, tokens, data, emails and idempotency keys, faults, rate limits, the request log
   * and the counters; restore clients and latency.
   */
  reset(): void {
    this.clients.clear();
    this.grants.clear();
    this.data.reset(this.dataEpoch());
    this.emails.clear();
    this.faults = [];
    for (const scope of ["token", "data"] as const) {
      this.rateLimits[scope].clear();
      this.buckets[scope].clear();
    }
    this.log.clear();
    this.tokenCounters = zeroTokenCounters();
    this.latency = { ms: this.options.latencyMs ?? 0, jitterMs: this.options.latencyJitterMs ?? 0 };
    this.registerDefaultClients();
  }

  private registerDefaultClients(): void {
    for (const provider of providerIds) {
      this.upsertClient({
        provider,
        clientId: defaultClientId(provider),
        clientSecret: defaultClientSecret(provider),
      });
    }
    for (const client of this.options.clients ?? []) this.upsertClient(client);
  }

  // --- latency ---------------------------------------------------------------------------------

  setLatency(latency: Latency): Latency {
    this.latency = { ...latency };
    return this.latency;
  }

  /** Delay for one provider request: base plus uniform jitter in [0, jitterMs]. */
  nextDelayMs(): number {
    const { ms, jitterMs } = this.latency;
    return jitterMs > 0 ? ms + Math.floor(this.random() * (jitterMs + 1)) : ms;
  }

  // --- clients ---------------------------------------------------------------------------------

  upsertClient(input: UpsertClientInput): Client {
    if (input.replace === true) {
      for (const [key, client] of this.clients)
        if (client.provider === input.provider) this.clients.delete(key);
    }
    const client: Client = {
      provider: input.provider,
      clientId: input.clientId,
      clientSecret: input.clientSecret,
      allowed: input.allowed ?? true,
    };
    this.clients.set(clientKey(input.provider, input.clientId), client);
    return client;
  }

  listClients(provider?: ProviderId): Client[] {
    return [...this.clients.values()].filter((c) => provider === undefined || c.provider === provider);
  }

  authenticateClient(provider: ProviderId, clientId: string, clientSecret: string): ClientAuthResult {
    const client = this.clients.get(clientKey(provider, clientId));
    if (client === undefined || client.clientSecret !== clientSecret) {
      return {
        ok: false,
        status: 401,
        error: "invalid_client",
        description: "Client authentication failed.",
      };
    }
    if (!client.allowed) {
      return {
        ok: false,
        status: 400,
        error: "unauthorized_client",
        description: "The client is not authorized to use this grant type.",
      };
    }
    return { ok: true, client };
  }

  // --- grants (see grants.ts) ------------------------------------------------------------------

  createGrant(input: CreateGrantInput): { ok: true; grant: CreatedGrant } | { ok: false; error: string } {
    return this.grants.createGrant(input);
  }

  listGrants(filter: GrantFilter = {}): GrantView[] {
    return this.grants.listGrants(filter);
  }

  peekRefreshToken(token: string): RefreshTokenPeek | null {
    return this.grants.peekRefreshToken(token);
  }

  refresh(input: RefreshInput): RefreshResult {
    return this.grants.refresh(input);
  }

  /** For data endpoints: the grant behind a bearer token, or null if unknown, expired or revoked. */
  validateAccessToken(token: string): AccessTokenInfo | null {
    return this.grants.validateAccessToken(token);
  }

  /** Like validateAccessToken, saying why a token is refused (unknown, expired, revoked). */
  inspectAccessToken(token: string): AccessTokenCheck {
    return this.grants.inspectAccessToken(token);
  }

  revoke(filter: RevokeFilter): GrantView[] {
    return this.grants.revoke(filter);
  }

  // --- faults ----------------------------------------------------------------------------------

  addFault(match: FaultMatch, fault: Fault, times: number | null): ScriptedFault {
    const entry: ScriptedFault = {
      id: randomUUID(),
      ...match,
      fault,
      remaining: times,
      createdAt: new Date(this.now()).toISOString(),
    };
    this.faults.push(entry);
    return entry;
  }

  listFaults(): ScriptedFault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  /** Removes faults (all, or those matching every given field); returns how many were removed. */
  clearFaults(
    filter: {
      id?: string | undefined;
      provider?: string | undefined;
      connectionKey?: string | undefined;
    } = {},
  ): number {
    const before = this.faults.length;
    this.faults = this.faults.filter(
      (f) =>
        !(
          (filter.id === undefined || f.id === filter.id) &&
          (filter.provider === undefined || f.provider === filter.provider) &&
          (filter.connectionKey === undefined || f.connectionKey === filter.connectionKey)
        ),
    );
    return before - this.faults.length;
  }

  /**
   * The first scripted fault matching this request, consuming one of its uses. A fault with a
   * `ratio` draws once per matching request; when not picked, the search goes on to later faults.
   */
  takeFault(ctx: FaultContext): Fault | null {
    if (this.faults.length === 0) return null;
    const index = this.faults.findIndex(
      (f) => faultMatches(f, ctx) && (f.ratio === undefined || f.ratio >= 1 || this.random() < f.ratio),
    );
    if (index === -1) return null;
    const entry = this.faults[index] as ScriptedFault;
    if (entry.remaining !== null) {
      entry.remaining -= 1;
      if (entry.remaining <= 0) this.faults.splice(index, 1);
    }
    return entry.fault;
  }

  // --- rate limits -----------------------------------------------------------------------------

  /**
   * `token`: per provider and client on the token endpoint. `data`: per provider across all of its
   * data endpoints (Gmail, Calendar and YouTube share Google's), like an app-wide quota.
   */
  setRateLimit(provider: ProviderId, config: RateLimitConfig | null, scope: RateLimitScope = "token"): void {
    if (config === null) this.rateLimits[scope].delete(provider);
    else this.rateLimits[scope].set(provider, config);
    this.buckets[scope].clear(`${provider}\u0000`);
  }

  getRateLimits(scope: RateLimitScope = "token"): Partial<Record<ProviderId, RateLimitConfig>> {
    return Object.fromEntries(this.rateLimits[scope]);
  }

  takeRateLimit(provider: ProviderId, clientId: string | null): RateLimitDecision {
    const config = this.rateLimits.token.get(provider);
    if (config === undefined) return { ok: true };
    return this.buckets.token.take(clientKey(provider, clientId ?? ""), config, this.now());
  }

  takeDataRateLimit(provider: ProviderId): RateLimitDecision {
    const config = this.rateLimits.data.get(provider);
    if (config === undefined) return { ok: true };
    return this.buckets.data.take(`${provider}\u0000`, config, this.now());
  }

  // --- request log -----------------------------------------------------------------------------

  /** Appends to the bounded log; `startedAt` (epoch ms, the state's clock) becomes `time`. */
  recordRequest(startedAt: number, entry: Omit<RequestLogEntry, "seq" | "time">): RequestLogEntry {
    this.seq += 1;
    if (entry.endpoint === "token") {
      this.tokenCounters.tokenRequests += 1;
      if (entry.rotated) this.tokenCounters.rotations += 1;
      if (entry.reusedRefreshToken) this.tokenCounters.reusedRefreshTokens += 1;
    }
    const full: RequestLogEntry = { seq: this.seq, time: isoString(startedAt), ...entry };
    this.log.push(full);
    return full;
  }

  /** The token counters (see SimulatorStats): O(1), whatever the size of the log. */
  stats(): SimulatorStats {
    return { ...this.tokenCounters, grantsRevokedForReuse: this.grants.revokedForReuse };
  }

  requests(filter: RequestLogFilter = {}): RequestLogEntry[] {
    const out: RequestLogEntry[] = [];
    for (const entry of this.log) {
      if (filter.since !== undefined && entry.seq <= filter.since) continue;
      if (filter.endpoint !== undefined && entry.endpoint !== filter.endpoint) continue;
      if (filter.provider !== undefined && entry.provider !== filter.provider) continue;
      if (filter.resource !== undefined && !resourceCovers(filter.resource, entry.resource)) continue;
      if (filter.connectionKey !== undefined && entry.connectionKey !== filter.connectionKey) continue;
      if (filter.grantId !== undefined && entry.grantId !== filter.grantId) continue;
      out.push(entry);
    }
    return filter.limit !== undefined && out.length > filter.limit
      ? out.slice(out.length - filter.limit)
      : out;
  }
}
