/**
 * Test support for connector tests: a real provider simulator, a minimal `PlatformHttp` over
 * fetch (bearer + base URL + the engine's error mapping), and a loop that polls a resource page
 * by page the way the engine does. Not the engine's PlatformHttp: that one adds shared rate
 * limits, retries and telemetry; this one only has to speak HTTP truthfully.
 */
import { createSimulator, type Simulator } from "@syncwell/provider-simulator";
import { expect } from "vitest";
import type {
  Connector,
  Page,
  PlatformHttp,
  PollContext,
  RawRecordInput,
  ResourceDefinition,
  SyncPosition,
} from "../adapters/connectors/connector.ts";
import { PlatformError, statusError } from "../adapters/connectors/errors.ts";

export type TestHttp = PlatformHttp & {
  /** Every request made, as `path?query` (a POST as `POST path`), in order. */
  readonly requests: string[];
  /** The bodies of the POST requests, in order. */
  readonly posted: string[];
  /** Changes a successful JSON body before the connector sees it (to test malformed payloads). */
  mutate: ((path: string, body: unknown) => unknown) | null;
  /** Changes the text of a successful POST answer before the connector sees it. */
  mutateText: ((path: string, text: string) => string) | null;
};

export function testHttp(baseUrl: string, accessToken: string): TestHttp {
  const http: TestHttp = {
    requests: [],
    posted: [],
    mutate: null,
    mutateText: null,
    async get<T = unknown>(
      path: string,
      options: {
        query?: Record<string, string | number | string[] | undefined>;
        headers?: Record<string, string>;
      } = {},
    ) {
      const url = new URL(`${baseUrl}${path}`);
      for (const [name, value] of Object.entries(options.query ?? {})) {
        if (value === undefined) continue;
        for (const one of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(one));
      }
      http.requests.push(`${path}${url.search}`);
      const response = await fetch(url, {
        headers: { ...options.headers, authorization: `Bearer ${accessToken}`, accept: "application/json" },
      });
      const text = await response.text();
      if (response.status === 304 || response.status === 204) {
        return { status: response.status, body: null as T, headers: response.headers };
      }
      if (!response.ok) throw statusError(`GET ${path}`, response.status, response.headers, text);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (cause) {
        throw new PlatformError("malformed", `GET ${path} answered invalid JSON`, {
          status: response.status,
          cause,
        });
      }
      return {
        status: response.status,
        body: (http.mutate?.(path, body) ?? body) as T,
        headers: response.headers,
      };
    },
    async post(path, request) {
      http.requests.push(`POST ${path}`);
      http.posted.push(request.body);
      const response = await fetch(`${baseUrl}${path}`, {
        method: "POST",
        headers: {
          ...request.headers,
          authorization: `Bearer ${accessToken}`,
          "content-type": request.contentType,
        },
        body: request.body,
      });
      const text = await response.text();
      if (!response.ok) throw statusError(`POST ${path}`, response.status, response.headers, text);
      return {
        status: response.status,
        text: http.mutateText?.(path, text) ?? text,
        headers: response.headers,
      };
    },
  };
  return http;
}

export type SimulatorFixture = {
  sim: Simulator;
  /** A connection at the simulator: its grant's access token and a poll context for a connector. */
  connect(
    connector: Connector,
    options?: {
      connectionKey?: string;
      scopes?: string[];
      providerAccountId?: string | null;
      windowStart?: Date;
    },
  ): Promise<Connection>;
  close(): Promise<void>;
};

export type Connection = {
  connectionKey: string;
  http: TestHttp;
  ctx: PollContext;
  /** POST /_control/data/:platform/:resource — the platform got new items; answers them as the API shows them. */
  addData(
    resource: string,
    body: { count?: number; items?: Array<Record<string, unknown>> },
  ): Promise<unknown[]>;
  expireCursors(resource?: string): Promise<void>;
  setParticipants(participants: string[]): Promise<void>;
  /** POST /_control/faults for this connection's data requests (`path` is a prefix, simulator paths). */
  addFault(input: { path?: string; fault: Record<string, unknown>; times?: number | null }): Promise<void>;
};

export async function startSimulator(
  options: { dataItems?: { min: number; max: number } } = {},
): Promise<SimulatorFixture> {
  const sim = await createSimulator(options.dataItems === undefined ? {} : { dataItems: options.dataItems });
  let connections = 0;
  const control = async <T>(method: string, path: string, body: unknown): Promise<T> => {
    const response = await fetch(`${sim.url}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    return JSON.parse(text) as T;
  };
  return {
    sim,
    async connect(connector, connectOptions = {}) {
      connections += 1;
      const connectionKey = connectOptions.connectionKey ?? `${connector.platform}-${connections}`;
      const grant = await control<{ accessToken: string; scopes: string[] }>("POST", "/_control/grants", {
        provider: connector.provider,
        connectionKey,
        ...(connectOptions.scopes === undefined ? {} : { scopes: connectOptions.scopes }),
      });
      // As the engine would with PLATFORM_<PLATFORM>_API_URL=<simulator>/<platform>.
      const baseUrl = `${sim.url}/${connector.platform}`;
      const http = testHttp(baseUrl, grant.accessToken);
      const now = new Date();
      const ctx: PollContext = {
        http,
        connection: {
          id: connectionKey,
          userId: "user-1",
          providerAccountId: connectOptions.providerAccountId ?? null,
          scopes: grant.scopes,
        },
        windowStart: connectOptions.windowStart ?? new Date(now.getTime() - 365 * 24 * 3600_000),
        now,
        signal: new AbortController().signal,
      };
      const target = { connectionKey, provider: connector.provider };
      return {
        connectionKey,
        http,
        ctx,
        addData: async (resource, body) =>
          (
            await control<{ items: unknown[] }>("POST", `/_control/data/${connector.platform}/${resource}`, {
              ...target,
              ...body,
            })
          ).items,
        expireCursors: async (resource) => {
          await control("POST", "/_control/data/expire-cursors", {
            connectionKey,
            resource: resource ?? connector.platform,
          });
        },
        setParticipants: async (participants) => {
          await control("PUT", "/_control/data/participants", { connectionKey, participants });
        },
        addFault: async (input) => {
          await control("POST", "/_control/faults", { connectionKey, endpoint: "data", ...input });
        },
      };
    },
    close: () => sim.close(),
  };
}

export type PollResult = {
  pages: Page[];
  records: RawRecordInput[];
  /** The cursor the engine would store after this poll. */
  cursor: string | null;
};

/**
 * One poll as the engine runs it: pages until `nextPageToken` is null, then the last page's
 * `nextCursor` (the old cursor when it is undefined).
 */
export async function poll(
  resource: ResourceDefinition,
  ctx: PollContext,
  cursor: string | null,
): Promise<PollResult> {
  const pages: Page[] = [];
  let position: SyncPosition = { cursor, pageToken: null };
  for (;;) {
    const page = await resource.fetchPage(ctx, position);
    pages.push(page);
    if (page.nextPageToken === null) break;
    expect(pages.length, "a poll that never ends").toBeLessThan(100);
    position = { cursor, pageToken: page.nextPageToken };
  }
  const last = pages[pages.length - 1] as Page;
  return {
    pages,
    records: pages.flatMap((page) => page.records),
    cursor: last.nextCursor === undefined ? cursor : last.nextCursor,
  };
}

export function resource(connector: Connector, name: string): ResourceDefinition {
  const found = connector.resources.find((r) => r.name === name);
  if (found === undefined) throw new Error(`${connector.platform} has no resource ${name}`);
  return found;
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}
