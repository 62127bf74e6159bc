/**
 * The OAuth providers Syncwell connects to: the token service holds a connection's tokens per
 * provider, the poller's platforms name the provider whose token they take, and the provider
 * simulator plays each of them. Adding a provider starts here.
 */
export const providerIds = [
  "google",
  "spotify",
  "github",
  "github-app",
  "discord",
  "linkedin",
  "slack",
] as const;
export type ProviderId = (typeof providerIds)[number];

export function isProviderId(value: string): value is ProviderId {
  return (providerIds as readonly string[]).includes(value);
}
