import type { ProviderRuntime } from "../domain/providers.ts";

export type Hold = { provider: string; errorCode: string; since: Date };

/**
 * Providers whose refreshes are on hold because the provider rejected Syncwell's own client
 * (`invalid_client`, `unauthorized_client`, a 401/403/404 from the token URL): every further
 * request would fail the same way and could only hurt (lockouts, alerts per user).
 *
 * In memory, per replica, keyed by the fingerprint of the provider's configuration (client id,
 * secret and token URL). Nothing else lifts a hold: the operator fixes the configuration and rolls
 * the replicas, whose new fingerprint is not held. Each replica finds out on its own with one
 * failed request, which leaves users untouched, so nothing needs sharing between replicas.
 */
export class OperatorHolds {
  private readonly holds = new Map<string, Hold>();

  /** Holds the provider; returns false when it was held already (alert once per hold). */
  hold(provider: ProviderRuntime, errorCode: string, now: Date = new Date()): boolean {
    if (this.holds.has(provider.configFingerprint)) return false;
    this.holds.set(provider.configFingerprint, { provider: provider.id, errorCode, since: now });
    return true;
  }

  isHeld(provider: ProviderRuntime): boolean {
    return this.holds.has(provider.configFingerprint);
  }

  get(provider: ProviderRuntime): Hold | undefined {
    return this.holds.get(provider.configFingerprint);
  }

  list(): Hold[] {
    return [...this.holds.values()];
  }
}
