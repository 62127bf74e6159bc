import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import Fastify, { type FastifyInstance, LogController } from "fastify";
import { delay, type SimulatorContext } from "./context.ts";
import { allRoutes } from "./routes/index.ts";
import { SimulatorState, type SimulatorStateOptions } from "./state.ts";

export type SimulatorAppOptions = {
  /** Fastify logger options; off by default (tests and benchmarks). */
  logger?: boolean | { level: string };
};

export type SimulatorOptions = SimulatorStateOptions &
  SimulatorAppOptions & {
    /** 0 (default) = a random free port. */
    port?: number;
    host?: string;
    /** Use an existing state instead of a fresh one. */
    state?: SimulatorState;
  };

export type Simulator = {
  app: FastifyInstance;
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  url: string;
  state: SimulatorState;
  /** Requests currently left unanswered by the `timeout` fault. */
  hangingRequests(): number;
  close(): Promise<void>;
};

/** Paths that skip the simulated provider latency. */
function isInternal(url: string): boolean {
  return url.startsWith("/_control/") || url === "/healthz";
}

/** The Fastify app for a state, not yet listening (`app.inject` works on it). */
export function buildSimulatorApp(state: SimulatorState, options: SimulatorAppOptions = {}): FastifyInstance {
  return buildApp(state, options).app;
}

function buildApp(
  state: SimulatorState,
  options: SimulatorAppOptions,
): { app: FastifyInstance; ctx: SimulatorContext } {
  // Per-request log lines would dominate the cost of a benchmark run; the request log covers them.
  const app = Fastify({
    logger: options.logger ?? false,
    logController: new LogController({ disableRequestLogging: true }),
  });
  const closing = new AbortController();
  const ctx: SimulatorContext = { state, closing: closing.signal, hanging: new Set<Socket>() };

  // Token endpoints take form bodies; handing routes the URLSearchParams lets them spot repeated
  // parameters (RFC 6749 §3.2) without another dependency.
  app.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "string" },
    (_request, body, done) => {
      done(null, new URLSearchParams(typeof body === "string" ? body : body.toString("utf8")));
    },
  );

  app.addHook("onRequest", (request, _reply, done) => {
    const ms = isInternal(request.url) ? 0 : state.nextDelayMs();
    if (ms <= 0) {
      done();
      return;
    }
    void delay(ms, closing.signal).then(() => done());
  });

  // Connections that have not sent a request yet: clients open spare keep-alive connections ahead
  // of need (undici does after an aborted request). Node counts such a connection as active, not
  // idle, so server.close() would wait for it until its headers timeout (a minute).
  const unused = new Set<Socket>();
  app.server.on("connection", (socket: Socket) => {
    if (closing.signal.aborted) {
      socket.destroy();
      return;
    }
    unused.add(socket);
    socket.once("close", () => unused.delete(socket));
  });
  app.server.on("request", (request: IncomingMessage) => unused.delete(request.socket));

  // A request answered while closing: its keep-alive connection would otherwise stay open, and
  // close() wait, until the keep-alive timeout (72 s). The client is told it ends here.
  app.addHook("onSend", (_request, reply, payload, done) => {
    if (closing.signal.aborted) reply.header("connection", "close");
    done(null, payload);
  });

  // Requests left hanging by the `timeout` fault, and unused connections, would keep close()
  // waiting. Requests in flight still get their answer; idle keep-alive connections are closed
  // by server.close() itself.
  app.addHook("preClose", (done) => {
    closing.abort();
    for (const socket of [...ctx.hanging, ...unused]) socket.destroy();
    ctx.hanging.clear();
    unused.clear();
    done();
  });

  for (const register of allRoutes) register(app, ctx);
  return { app, ctx };
}

/** Starts a simulator on `host:port` (127.0.0.1 and a random port by default). */
export async function createSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const state = options.state ?? new SimulatorState(options);
  const { app, ctx } = buildApp(state, { logger: options.logger ?? false });
  const host = options.host ?? "127.0.0.1";
  await app.listen({ port: options.port ?? 0, host });
  const address = app.server.address();
  if (address === null || typeof address === "string") throw new Error("simulator is not listening on TCP");
  const urlHost = address.address === "0.0.0.0" || address.address === "::" ? "127.0.0.1" : address.address;
  const url = `http://${urlHost.includes(":") ? `[${urlHost}]` : urlHost}:${address.port}`;
  let closed: Promise<void> | undefined;
  return {
    app,
    url,
    state,
    hangingRequests: () => ctx.hanging.size,
    close: () => {
      closed ??= app.close();
      return closed;
    },
  };
}
