import { onTestFinished } from "vitest";
import { SimulatorControl } from "./client.ts";
import type { ProviderId } from "./providers.ts";
import { createSimulator, type Simulator, type SimulatorOptions } from "./server.ts";

export type TestSimulator = Simulator & { control: SimulatorControl };

/** A fresh simulator on a random port, closed when the current test finishes. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<TestSimulator> {
  const sim = await createSimulator(options);
  onTestFinished(() => sim.close());
  return { ...sim, control: new SimulatorControl(sim.url) };
}

export type RefreshOptions = {
  auth?: "basic" | "post" | "none";
  clientId?: string;
  clientSecret?: string;
  scope?: string;
  signal?: AbortSignal;
  extra?: Record<string, string>;
};

export type RefreshResponse = {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown> | null;
};

/** A refresh request as a real client would send it. */
export async function refresh(
  sim: TestSimulator,
  provider: ProviderId,
  refreshToken: string,
  options: RefreshOptions = {},
): Promise<RefreshResponse> {
  const defaults = SimulatorControl.defaultCredentials(provider);
  const clientId = options.clientId ?? defaults.clientId;
  const clientSecret = options.clientSecret ?? defaults.clientSecret;
  const auth = options.auth ?? "post";
  const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken });
  if (options.scope !== undefined) form.set("scope", options.scope);
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (auth === "post") {
    form.set("client_id", clientId);
    form.set("client_secret", clientSecret);
  } else if (auth === "basic") {
    const encode = (s: string): string => encodeURIComponent(s).replaceAll("%20", "+");
    headers.authorization = `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString("base64")}`;
  }
  for (const [key, value] of Object.entries(options.extra ?? {})) form.append(key, value);
  const response = await fetch(sim.control.tokenUrl(provider), {
    method: "POST",
    headers,
    body: form,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const text = await response.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { status: response.status, headers: response.headers, text, json };
}

export type ApiResponse<T> = {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body, typed as the test expects it (null when empty or not JSON). */
  json: T;
};

/** A data-API GET with a bearer token, as a poller would send it. */
export async function apiGet<T = unknown>(
  url: string,
  token: string | null,
  headers: Record<string, string> = {},
): Promise<ApiResponse<T>> {
  const response = await fetch(url, {
    headers: token === null ? headers : { authorization: `Bearer ${token}`, ...headers },
  });
  const text = await response.text();
  let json: unknown = null;
  try {
    json = text === "" ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: response.status, headers: response.headers, text, json: json as T };
}
