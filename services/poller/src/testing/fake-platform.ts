/**
 * Test support (not used by production code): a tiny platform API over real HTTP, and a connector
 * for it, so the engine's tests exercise real requests, real pagination and real faults without
 * depending on any one platform's shapes.
 *
 * `GET /items` lists an account's items (bearer token → account): without `since`, all of them by
 * id (a full listing); with `since=<version>`, those changed after that version (incremental).
 * `page=<offset>` paginates; the last page carries `cursor` (the account's current version). A
 * `since` older than the account's oldest kept version answers 410 Gone.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type {
  Connector,
  Page,
  PollContext,
  RawRecordInput,
  SyncPosition,
} from "../adapters/connectors/connector.ts";
import { CursorExpiredError, malformed, PlatformError } from "../adapters/connectors/errors.ts";

export type FakeItem = {
  id: string;
  title: string;
  /** Present for communication items. */
  kind?: "email" | "meeting";
  from?: string | null;
  to?: string[];
  fromSelf?: boolean;
  at?: string;
};

type Account = {
  items: Map<string, { item: FakeItem; version: number }>;
  version: number;
  minCursor: number;
};

export type LoggedRequest = {
  /** performance.timeOrigin-based ms (Date.now()-like, sub-ms). */
  at: number;
  token: string | null;
  path: string;
  query: Record<string, string>;
  status: number;
};

export type Fault = {
  /** Only requests with this bearer token (default: all). */
  token?: string;
  /** Only requests for this page offset ("0" is the first page). */
  page?: string;
  status?: number;
  headers?: Record<string, string>;
  /** Raw response body (default: a JSON error). */
  body?: string;
  /** Answer after this long (a fault of latency, or a slow page). */
  delayMs?: number;
  /** Never answer (the client times out or is killed). */
  hang?: boolean;
  /** How many requests it applies to (default 1; Infinity = until cleared). */
  times?: number;
};

export class FakePlatform {
  readonly name: string;
  readonly requests: LoggedRequest[] = [];
  private readonly accounts = new Map<string, Account>();
  private faults: Array<Fault & { left: number }> = [];
  private server: Server | undefined;
  private readonly hanging = new Set<ServerResponse>();
  /** Default latency of every request. */
  latencyMs = 0;
  url = "";

  constructor(name: string) {
    this.name = name;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 1_000;
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  account(token: string): Account {
    let account = this.accounts.get(token);
    if (!account) {
      account = { items: new Map(), version: 0, minCursor: 0 };
      this.accounts.set(token, account);
    }
    return account;
  }

  setItems(token: string, items: FakeItem[]): void {
    const account = this.account(token);
    for (const item of items) {
      account.version += 1;
      account.items.set(item.id, { item, version: account.version });
    }
  }

  deleteItem(token: string, id: string): void {
    const account = this.account(token);
    account.version += 1;
    account.items.delete(id);
  }

  /** The platform forgets its history: cursors older than now are rejected with 410. */
  expireCursors(token: string): void {
    const account = this.account(token);
    account.minCursor = account.version + 1;
  }

  addFault(fault: Fault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.faults = [];
  }

  requestsFor(token: string): LoggedRequest[] {
    return this.requests.filter((r) => r.token === token);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const auth = req.headers.authorization ?? "";
    const token = auth.startsWith("Bearer ") ? auth.slice(7) : null;
    const query = Object.fromEntries(url.searchParams);
    const entry: LoggedRequest = {
      at: performance.timeOrigin + performance.now(),
      token,
      path: url.pathname,
      query,
      status: 0,
    };
    this.requests.push(entry);
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      entry.status = status;
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(body);
    };

    const fault = this.faults.find(
      (f) =>
        f.left > 0 &&
        (f.token === undefined || f.token === token) &&
        (f.page === undefined || f.page === (query.page ?? "0")),
    );
    if (fault) fault.left -= 1;
    const delay = fault?.delayMs ?? this.latencyMs;
    if (fault?.hang) {
      this.hanging.add(res);
      res.on("close", () => this.hanging.delete(res));
      return;
    }
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    if (fault?.status !== undefined) {
      send(
        fault.status,
        fault.body ?? JSON.stringify({ error: { message: `scripted ${fault.status}` } }),
        fault.headers,
      );
      return;
    }
    if (fault?.body !== undefined) {
      send(200, fault.body, fault.headers);
      return;
    }

    if (url.pathname !== "/items") return send(404, JSON.stringify({ error: "not found" }));
    const account = token === null ? undefined : this.accounts.get(token);
    if (!account) return send(401, JSON.stringify({ error: { message: "invalid credentials" } }));
    const limit = Number(query.limit ?? 50);
    const offset = Number(query.page ?? 0);
    let list: Array<{ item: FakeItem; version: number }>;
    if (query.since !== undefined) {
      const since = Number(query.since);
      if (since < account.minCursor)
        return send(410, JSON.stringify({ error: { message: "cursor expired" } }));
      list = [...account.items.values()]
        .filter((e) => e.version > since)
        .sort((a, b) => a.version - b.version);
    } else {
      list = [...account.items.values()].sort((a, b) => a.item.id.localeCompare(b.item.id));
    }
    const slice = list.slice(offset, offset + limit);
    const more = offset + limit < list.length;
    send(
      200,
      JSON.stringify({
        items: slice.map((e) => e.item),
        ...(more ? { nextPage: String(offset + limit) } : { cursor: String(account.version) }),
      }),
    );
  }
}

export type FakeConnectorOptions = {
  platform: string;
  provider: Connector["provider"];
  baseUrl: string;
  pageSize?: number;
  requiredScopes?: string[];
  rateLimitedPer?: Connector["rateLimitedPer"];
  /** Called before each page (tests throw from it to simulate a crash between pages). */
  beforePage?: (position: SyncPosition, pageNumber: number) => void;
};

/** A connector for a FakePlatform: resource `items`, a full listing without cursor, incremental with one. */
export function fakeConnector(options: FakeConnectorOptions): Connector {
  let pages = 0;
  return {
    platform: options.platform,
    provider: options.provider,
    baseUrl: options.baseUrl,
    ...(options.rateLimitedPer ? { rateLimitedPer: options.rateLimitedPer } : {}),
    resources: [
      {
        name: "items",
        requiredScopes: options.requiredScopes ?? [],
        async fetchPage(ctx: PollContext, position: SyncPosition): Promise<Page> {
          pages += 1;
          options.beforePage?.(position, pages);
          let body: unknown;
          try {
            ({ body } = await ctx.http.get("/items", {
              query: {
                limit: options.pageSize ?? 50,
                since: position.cursor ?? undefined,
                page: position.pageToken ?? undefined,
              },
            }));
          } catch (err) {
            if (err instanceof PlatformError && err.status === 410) {
              throw new CursorExpiredError("items cursor expired", { cause: err });
            }
            throw err;
          }
          const page = body as { items?: unknown; nextPage?: string; cursor?: string } | null;
          if (!page || !Array.isArray(page.items)) throw malformed("items page", "items is not an array");
          const records = (page.items as FakeItem[]).map((item): RawRecordInput => {
            const record: RawRecordInput = { externalId: item.id, payload: item };
            if (item.at) record.occurredAt = new Date(item.at);
            if (item.kind) {
              record.communication = {
                channel: item.kind,
                from: item.from ?? null,
                to: item.to ?? [],
                ...(item.fromSelf ? { fromSelf: true } : {}),
              };
            }
            return record;
          });
          return {
            records,
            nextPageToken: page.nextPage ?? null,
            ...(page.nextPage ? {} : { nextCursor: page.cursor ?? null }),
            fullListing: position.cursor === null,
          };
        },
      },
    ],
  };
}

/** `count` items `<prefix>-<n>` with zero-padded numbers (so the full listing's id order is numeric). */
export function items(prefix: string, count: number, from = 1): FakeItem[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${String(from + i).padStart(4, "0")}`,
    title: `item ${from + i}`,
  }));
}
