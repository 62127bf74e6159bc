import { isUtf8 } from "node:buffer";
import { randomUUID } from "node:crypto";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from "fastify";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { HTTP_TIMEOUT_DEFAULTS } from "./env.ts";
import {
  answerFrameworkError,
  clientErrorHandler,
  errorCode,
  shownPath,
  toErrorReply,
} from "./http-errors.ts";
import { ensureDefaultMetrics, httpRequestDuration, metricsRegistry } from "./metrics.ts";
import { findInputProblems, inputError } from "./request-input.ts";
import { clientRequestId, requestLogValue } from "./request-log.ts";
import { healthzRoute } from "./routes/healthz.route.ts";
import { metricsRoute } from "./routes/metrics.route.ts";
import { type ReadinessCheck, readyzRoute } from "./routes/readyz.route.ts";

export { type ErrorBody, type ErrorDetail, sendError } from "./http-errors.ts";
export type { ReadinessCheck } from "./routes/readyz.route.ts";

/** Time limits of the server, in ms; `commonEnv`'s HTTP_*_TIMEOUT set them in a service. */
export type HttpTimeouts = { requestMs: number; headersMs: number; keepAliveMs: number };

export type HttpServerOptions = {
  logger: Logger;
  /** What /readyz checks (typically Postgres and NATS). */
  readiness: ReadinessCheck[];
  /** Defaults to the process registry, `metricsRegistry`. */
  registry?: Registry;
  /** Per-check bound for /readyz; default 2000 ms (under the kubelet's default 1 s … 10 s probe timeouts). */
  readinessTimeoutMs?: number;
  /** Defaults: HTTP_TIMEOUT_DEFAULTS (30 s request, 10 s headers, 72 s keep-alive). */
  timeouts?: Partial<HttpTimeouts>;
};

/** Probe and scrape routes, polled every few seconds: their request logs go to debug. */
export const PROBE_ROUTES: readonly string[] = ["/healthz", "/readyz", "/metrics"];

function isProbe(request: FastifyRequest): boolean {
  return PROBE_ROUTES.includes(request.routeOptions.url ?? "");
}

class ProbeQuietLogController extends LogController {
  override incomingRequest(
    request: FastifyRequest,
    reply: FastifyReply,
    metadata?: Record<string, unknown>,
  ): void {
    if (isProbe(request)) request.log.debug({ req: request }, "incoming request");
    else super.incomingRequest(request, reply, metadata);
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
    metadata?: Record<string, unknown>,
  ): void {
    if (!error && isProbe(request))
      reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, "request completed");
    else super.requestCompleted(error, request, reply, metadata);
  }
}

/**
 * A path parameter is bounded by Node's 16 KiB header limit, not by the router: a route's schema
 * answers a too-long id with a 400 naming it, after authentication, where the router's own limit
 * (100) would answer 414 before it.
 */
const MAX_PARAM_LENGTH = 16_384;

/** Node checks its request and header timeouts on this interval (30 s by default, far past ours). */
function timeoutCheckInterval(t: HttpTimeouts): number {
  return Math.max(50, Math.min(1_000, Math.floor(Math.min(t.requestMs, t.headersMs) / 4)));
}

/** `req` in request logs without query secrets, and the client's own request id beside ours. */
function requestLogger(logger: Logger): FastifyBaseLogger {
  // Typed as Fastify's base logger so the instance is the plain FastifyInstance services expect.
  return logger.child({}, { serializers: { req: requestLogValue } }) as FastifyBaseLogger;
}

function createFastify(options: HttpServerOptions): FastifyInstance {
  const t: HttpTimeouts = { ...HTTP_TIMEOUT_DEFAULTS, ...options.timeouts };
  // Node refuses a headers timeout above the request timeout.
  t.headersMs = Math.min(t.headersMs, t.requestMs);
  const logger = requestLogger(options.logger);
  return Fastify({
    loggerInstance: logger,
    logController: new ProbeQuietLogController(),
    // Our id, always: a client's x-request-id is logged apart (clientRequestId), never trusted as ours.
    requestIdHeader: false,
    genReqId: () => randomUUID(),
    childLoggerFactory: (parent, bindings, childOptions, raw) => {
      const clientId = clientRequestId(raw);
      return parent.child(clientId ? { ...bindings, clientRequestId: clientId } : bindings, childOptions);
    },
    requestTimeout: t.requestMs,
    keepAliveTimeout: t.keepAliveMs,
    http: { headersTimeout: t.headersMs, connectionsCheckingInterval: timeoutCheckInterval(t) },
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: clientErrorHandler(logger),
    // Answered by the hook below in the error format; Fastify's own 503 has another shape.
    return503OnClosing: false,
  });
}

/**
 * JSON bodies must be UTF-8: invalid bytes would be decoded to U+FFFD and stored so, silently.
 * The rest is Fastify's parser (prototype-poisoning keys refused). JSON is the only body these
 * APIs take: Fastify's `text/plain` parser goes too, so a text body is a 415 naming the media
 * type rather than a 400 about the body's shape.
 */
function strictJsonParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("text/plain");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    const bytes = body as Buffer;
    if (!isUtf8(bytes)) {
      done(
        Object.assign(new Error("body is not valid UTF-8"), {
          statusCode: 400,
          code: "FST_ERR_BODY_NOT_UTF8",
        }),
      );
      return;
    }
    parseJson(request, bytes.toString("utf8"), done);
  });
}

/**
 * Hooks every route inherits: our request id on every answer, a shutting-down server answering
 * 503 in the format, and hostile strings refused in params, query and body (`textProblem`) before
 * any handler, whatever its schema. The string check is a preValidation hook, so it runs after a
 * route scope's authentication (onRequest) and body parsing.
 */
function installRequestHooks(app: FastifyInstance): void {
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
    if (!closing) return undefined;
    return reply
      .code(503)
      .header("connection", "close")
      .send({ error: errorCode(503), message: "the service is shutting down; retry on another replica" });
  });
  app.addHook("preValidation", async (request) => {
    const problems = [
      ...findInputProblems(request.params, ["params"]),
      ...findInputProblems(request.query, ["query"]),
      ...findInputProblems(request.body, ["body"]),
    ];
    if (problems.length > 0) throw inputError(problems);
  });
}

/**
 * The service's HTTP server: probes, metrics, time limits, the JSON error format for every error
 * (the framework's and Node's included) and the input rules every route inherits. Services add
 * their own routes (one file per endpoint) before calling `listen`.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const registry = options.registry ?? metricsRegistry;
  ensureDefaultMetrics(registry);
  const requestDuration = httpRequestDuration(registry);
  const app = createFastify(options);
  strictJsonParser(app);
  installRequestHooks(app);

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { status, body } = toErrorReply(err, request);
    return reply.code(status).send(body);
  });

  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send({ error: "not_found", message: `no route ${request.method} ${shownPath(request.url)}` }),
  );

  app.addHook("onResponse", async (request, reply) => {
    if (isProbe(request)) return;
    requestDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? "unmatched",
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  healthzRoute(app);
  readyzRoute(app, { checks: options.readiness, timeoutMs: options.readinessTimeoutMs ?? 2000 });
  metricsRoute(app, registry);
  return app;
}
