import type { Logger } from "@syncwell/telemetry";
import type { ProviderRuntime } from "../domain/providers.ts";
import type { ProviderRateLimiter } from "./rate-limiter.ts";

/** Pause after a 429 when the provider names no Retry-After. */
const DEFAULT_429_PAUSE_MS = 1_000;
/** Bound on any pause, whatever Retry-After asks for. */
const MAX_PAUSE_MS = 5_000;

/**
 * Providers that answered 429 to our client: every request now would fail too, so this replica's
 * lanes claim nothing for them until the pause ends, and the provider's shared rate-limit bucket is
 * blocked as long, so the other replicas' lanes wait too.
 */
export class ProviderPauses {
  private readonly limiter: ProviderRateLimiter;
  private readonly logger: Logger;
  /** Provider id → end of its pause (epoch ms). */
  private readonly pausedUntil = new Map<string, number>();

  constructor(limiter: ProviderRateLimiter, logger: Logger) {
    this.limiter = limiter;
    this.logger = logger;
  }

  pause(provider: ProviderRuntime, retryAfterMs: number | undefined): void {
    const pause = Math.min(MAX_PAUSE_MS, retryAfterMs ?? DEFAULT_429_PAUSE_MS);
    this.pausedUntil.set(provider.id, Math.max(this.pausedUntil.get(provider.id) ?? 0, Date.now() + pause));
    // The other replicas' takes from the shared bucket wait for the block.
    void this.limiter.block?.(provider.id, pause).catch((err: unknown) => {
      this.logger.warn({ provider: provider.id, err }, "could not block the provider's rate limit bucket");
    });
  }

  /** How long the provider's pause still lasts (0 or less: not paused). */
  remainingMs(providerId: string): number {
    return (this.pausedUntil.get(providerId) ?? 0) - Date.now();
  }
}
