import { connect, createServer, type Server, type Socket } from "node:net";

export type TcpProxy = {
  /** The port the proxy listens on, on 127.0.0.1. */
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's (`postgresql://…`, `nats://…`). */
  rewrite(url: string): string;
  /**
   * An outage: every connection through the proxy is reset and new ones are refused until
   * `restore()`. The server behind it is untouched (it is shared by other tests).
   */
  cut(): void;
  restore(): void;
  readonly isCut: boolean;
  /** Connections through the proxy open right now. */
  readonly open: number;
  close(): Promise<void>;
};

/**
 * A TCP proxy in the test's process, between a service and a server the test must not stop (the
 * machine's Postgres and NATS are shared): cutting it is, for the service, the server going away.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let cut = false;

  const server: Server = createServer((client) => {
    if (cut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    const pair = { client, upstream };
    pairs.add(pair);
    const close = () => {
      pairs.delete(pair);
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;

  const cutAll = () => {
    cut = true;
    for (const { client, upstream } of [...pairs]) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    pairs.clear();
  };

  return {
    port,
    rewrite(url: string): string {
      const parsed = new URL(url);
      parsed.hostname = "127.0.0.1";
      parsed.port = String(port);
      return parsed.toString();
    },
    cut: cutAll,
    restore() {
      cut = false;
    },
    get isCut() {
      return cut;
    },
    get open() {
      return pairs.size;
    },
    async close() {
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
