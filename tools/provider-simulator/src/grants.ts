import { randomUUID } from "node:crypto";
import { type ProviderId, providers } from "./providers.ts";
import { randomToken } from "./tokens.ts";

/** Older access tokens of a grant are forgotten beyond this many (keeps memory flat under load). */
const MAX_ACCESS_TOKENS_PER_GRANT = 16;
/** Rotated-away refresh tokens remembered per grant for reuse detection. */
const MAX_USED_REFRESH_TOKENS_PER_GRANT = 1000;

export type RevokeReason = "refresh_token_reuse" | "revoked";

type Grant = {
  id: string;
  provider: ProviderId;
  connectionKey: string;
  /** The client the grant was issued to; null = any registered client of the provider may use it. */
  clientId: string | null;
  refreshToken: string;
  scopes: string[];
  rotate: boolean;
  expiresIn: number;
  status: "active" | "revoked";
  revokedReason: RevokeReason | null;
  createdAt: number;
  refreshCount: number;
  usedRefreshTokens: string[];
  accessTokens: string[];
};

/** A grant as the control API shows it: without its token history, its creation time as ISO text. */
export type GrantView = Omit<Grant, "usedRefreshTokens" | "accessTokens" | "createdAt"> & {
  createdAt: string;
};

export type CreatedGrant = GrantView & { accessToken: string; accessTokenExpiresAt: string };

export type CreateGrantInput = {
  provider: ProviderId;
  refreshToken?: string | undefined;
  connectionKey?: string | undefined;
  clientId?: string | undefined;
  scopes?: string[] | undefined;
  rotate?: boolean | undefined;
  expiresIn?: number | undefined;
};

export type GrantFilter = {
  provider?: string | undefined;
  connectionKey?: string | undefined;
  grantId?: string | undefined;
};

export type RevokeFilter = {
  refreshToken?: string | undefined;
  connectionKey?: string | undefined;
  /** Only grants of this provider. */
  provider?: string | undefined;
};

export type AccessTokenInfo = {
  grantId: string;
  provider: ProviderId;
  connectionKey: string;
  clientId: string | null;
  scopes: string[];
  expiresAt: number;
};

/** What fault matching and the request log learn from a presented refresh token. */
export type RefreshTokenPeek = {
  grantId: string;
  connectionKey: string;
  provider: ProviderId;
  used: boolean;
};

/** Why a bearer token is not accepted (platforms word their 401s differently for each). */
export type AccessTokenProblem = "unknown" | "expired" | "revoked";

export type AccessTokenCheck =
  | { ok: true; info: AccessTokenInfo }
  | { ok: false; problem: AccessTokenProblem };

type AccessTokenRecord = { grant: Grant; scopes: string[]; expiresAt: number };
type RefreshTokenRecord = { grant: Grant; used: boolean };

export type RefreshInput = {
  provider: ProviderId;
  clientId: string;
  refreshToken: string;
  /** Raw `scope` parameter, if any (space- or comma-separated). */
  scope?: string | undefined;
  /** Answer without a new refresh token and keep the old one valid (fault `no_refresh_token`). */
  withholdRefreshToken?: boolean;
};

export type RefreshResult =
  | {
      ok: true;
      grantId: string;
      accessToken: string;
      expiresIn: number;
      refreshToken: string | null;
      scopes: string[];
    }
  | {
      ok: false;
      error: "invalid_grant" | "invalid_scope";
      description: string;
      grantId: string | null;
      reused: boolean;
    };

function toView(grant: Grant): GrantView {
  return {
    id: grant.id,
    provider: grant.provider,
    connectionKey: grant.connectionKey,
    clientId: grant.clientId,
    refreshToken: grant.refreshToken,
    scopes: [...grant.scopes],
    rotate: grant.rotate,
    expiresIn: grant.expiresIn,
    status: grant.status,
    revokedReason: grant.revokedReason,
    refreshCount: grant.refreshCount,
    createdAt: new Date(grant.createdAt).toISOString(),
  };
}

/**
 * Grants and their token families: refresh tokens (current and spent) and access tokens. A grant is
 * one user's consent to one client, as a completed authorization-code flow leaves it.
 */
export class GrantStore {
  private readonly now: () => number;
  private readonly grants = new Map<string, Grant>();
  private readonly refreshTokens = new Map<string, RefreshTokenRecord>();
  private readonly accessTokens = new Map<string, AccessTokenRecord>();
  /** Grants revoked because a spent refresh token came back (a counter: grants may be many). */
  private revokedForReuseCount = 0;

  constructor(now: () => number) {
    this.now = now;
  }

  clear(): void {
    this.grants.clear();
    this.refreshTokens.clear();
    this.accessTokens.clear();
    this.revokedForReuseCount = 0;
  }

  /** How many grants were revoked for refresh-token reuse since start or the last clear(). */
  get revokedForReuse(): number {
    return this.revokedForReuseCount;
  }

  createGrant(input: CreateGrantInput): { ok: true; grant: CreatedGrant } | { ok: false; error: string } {
    const spec = providers[input.provider];
    const refreshToken = input.refreshToken ?? randomToken(spec.refreshTokenPrefix);
    if (this.refreshTokens.has(refreshToken)) return { ok: false, error: "refreshToken already exists" };
    const grant: Grant = {
      id: randomUUID(),
      provider: input.provider,
      connectionKey: input.connectionKey ?? `conn_${randomToken("", 9)}`,
      clientId: input.clientId ?? null,
      refreshToken,
      scopes: input.scopes ?? [...spec.defaultScopes],
      rotate: input.rotate ?? spec.rotatesByDefault,
      expiresIn: input.expiresIn ?? spec.expiresIn,
      status: "active",
      revokedReason: null,
      createdAt: this.now(),
      refreshCount: 0,
      usedRefreshTokens: [],
      accessTokens: [],
    };
    this.grants.set(grant.id, grant);
    this.refreshTokens.set(refreshToken, { grant, used: false });
    // The authorization-code exchange a real flow starts with also hands out an access token.
    const { token, expiresAt } = this.issueAccessToken(grant, grant.scopes);
    return {
      ok: true,
      grant: {
        ...toView(grant),
        accessToken: token,
        accessTokenExpiresAt: new Date(expiresAt).toISOString(),
      },
    };
  }

  listGrants(filter: GrantFilter = {}): GrantView[] {
    if (filter.grantId !== undefined) {
      const grant = this.grants.get(filter.grantId);
      if (grant === undefined) return [];
      if (filter.provider !== undefined && grant.provider !== filter.provider) return [];
      if (filter.connectionKey !== undefined && grant.connectionKey !== filter.connectionKey) return [];
      return [toView(grant)];
    }
    const out: GrantView[] = [];
    for (const grant of this.grants.values()) {
      if (filter.provider !== undefined && grant.provider !== filter.provider) continue;
      if (filter.connectionKey !== undefined && grant.connectionKey !== filter.connectionKey) continue;
      out.push(toView(grant));
    }
    return out;
  }

  /** Looks a refresh token up without side effects (fault matching and the log need its grant). */
  peekRefreshToken(token: string): RefreshTokenPeek | null {
    const record = this.refreshTokens.get(token);
    if (record === undefined) return null;
    const { grant } = record;
    return {
      grantId: grant.id,
      connectionKey: grant.connectionKey,
      provider: grant.provider,
      used: record.used,
    };
  }

  /** RFC 6749 §6 refresh with RFC 9700 §4.14.2 reuse detection. */
  refresh(input: RefreshInput): RefreshResult {
    const record = this.refreshTokens.get(input.refreshToken);
    if (record === undefined || record.grant.provider !== input.provider) {
      return this.grantError("invalid_grant", "The refresh token is invalid.", null, false);
    }
    const { grant } = record;
    if (grant.clientId !== null && grant.clientId !== input.clientId) {
      return this.grantError(
        "invalid_grant",
        "The refresh token was issued to another client.",
        grant,
        false,
      );
    }
    if (record.used) {
      // A spent token came back: either an attacker or a client that lost the rotated one. Either
      // way the whole family is revoked, so the current refresh token stops working as well.
      const wasActive = grant.status === "active";
      this.revokeGrant(grant, "refresh_token_reuse");
      return this.grantError(
        "invalid_grant",
        wasActive
          ? "The refresh token was already used; the grant has been revoked."
          : "The refresh token was already used.",
        grant,
        true,
      );
    }
    if (grant.status === "revoked") {
      return this.grantError("invalid_grant", "The grant has been revoked.", grant, false);
    }

    let scopes = grant.scopes;
    if (input.scope !== undefined && input.scope.trim() !== "") {
      const requested = input.scope.split(/[\s,]+/).filter((s) => s !== "");
      const extra = requested.filter((s) => !grant.scopes.includes(s));
      if (extra.length > 0) {
        return this.grantError("invalid_scope", `Scope not granted: ${extra.join(" ")}`, grant, false);
      }
      scopes = requested;
    }

    grant.refreshCount += 1;
    let refreshToken: string | null = null;
    if (grant.rotate && input.withholdRefreshToken !== true) {
      record.used = true;
      grant.usedRefreshTokens.push(grant.refreshToken);
      if (grant.usedRefreshTokens.length > MAX_USED_REFRESH_TOKENS_PER_GRANT) {
        const forgotten = grant.usedRefreshTokens.shift();
        if (forgotten !== undefined) this.refreshTokens.delete(forgotten);
      }
      refreshToken = randomToken(providers[grant.provider].refreshTokenPrefix);
      grant.refreshToken = refreshToken;
      this.refreshTokens.set(refreshToken, { grant, used: false });
    }
    const { token } = this.issueAccessToken(grant, scopes);
    return {
      ok: true,
      grantId: grant.id,
      accessToken: token,
      expiresIn: grant.expiresIn,
      refreshToken,
      scopes,
    };
  }

  private grantError(
    error: "invalid_grant" | "invalid_scope",
    description: string,
    grant: Grant | null,
    reused: boolean,
  ): RefreshResult {
    return { ok: false, error, description, grantId: grant?.id ?? null, reused };
  }

  private issueAccessToken(grant: Grant, scopes: string[]): { token: string; expiresAt: number } {
    const token = randomToken(providers[grant.provider].accessTokenPrefix);
    const expiresAt = this.now() + grant.expiresIn * 1000;
    this.accessTokens.set(token, { grant, scopes, expiresAt });
    grant.accessTokens.push(token);
    if (grant.accessTokens.length > MAX_ACCESS_TOKENS_PER_GRANT) {
      const oldest = grant.accessTokens.shift();
      if (oldest !== undefined) this.accessTokens.delete(oldest);
    }
    return { token, expiresAt };
  }

  /** For data endpoints: the grant behind a bearer token, or null if unknown, expired or revoked. */
  validateAccessToken(token: string): AccessTokenInfo | null {
    const check = this.inspectAccessToken(token);
    return check.ok ? check.info : null;
  }

  /**
   * Like validateAccessToken, saying why a token is refused. An expired token stays known (each
   * grant keeps its last 16 anyway), so it is reported as expired for as long as it is remembered.
   */
  inspectAccessToken(token: string): AccessTokenCheck {
    const record = this.accessTokens.get(token);
    if (record === undefined) return { ok: false, problem: "unknown" };
    const { grant } = record;
    if (grant.status !== "active") return { ok: false, problem: "revoked" };
    if (record.expiresAt <= this.now()) return { ok: false, problem: "expired" };
    return {
      ok: true,
      info: {
        grantId: grant.id,
        provider: grant.provider,
        connectionKey: grant.connectionKey,
        clientId: grant.clientId,
        scopes: [...record.scopes],
        expiresAt: record.expiresAt,
      },
    };
  }

  /** Revokes grants by refresh token (any of the family's, current or spent) and/or connection key. */
  revoke(filter: RevokeFilter): GrantView[] {
    const targets = new Set<Grant>();
    if (filter.refreshToken !== undefined) {
      const record = this.refreshTokens.get(filter.refreshToken);
      if (record !== undefined) targets.add(record.grant);
    }
    if (filter.connectionKey !== undefined) {
      for (const grant of this.grants.values())
        if (grant.connectionKey === filter.connectionKey) targets.add(grant);
    }
    const revoked: GrantView[] = [];
    for (const grant of targets) {
      if (filter.provider !== undefined && grant.provider !== filter.provider) continue;
      this.revokeGrant(grant, "revoked");
      revoked.push(toView(grant));
    }
    return revoked;
  }

  private revokeGrant(grant: Grant, reason: RevokeReason): void {
    if (grant.status === "revoked") return;
    grant.status = "revoked";
    grant.revokedReason = reason;
    if (reason === "refresh_token_reuse") this.revokedForReuseCount += 1;
    // Revoking a grant also invalidates the access tokens issued from it (as Google and Spotify do).
    for (const token of grant.accessTokens) this.accessTokens.delete(token);
    grant.accessTokens = [];
  }
}
