import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
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
import { z } from "zod";
import { ensureDefaultMetrics, httpRequestDuration, metricsRegistry } from "./metrics.ts";
import { healthzRoute } from "./routes/healthz.route.ts";
import { metricsRoute } from "./routes/metrics.route.ts";
import { type ReadinessCheck, readyzRoute } from "./routes/readyz.route.ts";

export type { ReadinessCheck } from "./routes/readyz.route.ts";

export type HttpServerOptions = {
  logger: Logger;
  /** What /readyz checks (typically Postgres and NATS). */
  readiness: ReadinessCheck[];
  /** Defaults to the process registry, `metricsRegistry`. */
  registry?: Registry;
  /** Per-check bound for /readyz; default 2000 ms (under the kubelet's default 1 s … 10 s probe timeouts). */
  readinessTimeoutMs?: number;
};

export type ErrorBody = {
  error: string;
  message?: string;
  details?: Array<{ path: string; message: string }>;
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

function errorCode(status: number): string {
  if (status === 400) return "bad_request";
  return (STATUS_CODES[status] ?? "error")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_|_$/g, "");
}

function pathOnly(url: string): string {
  return url.split("?")[0] ?? url;
}

/** Maps every error to a JSON body without stack traces; 5xx are logged with their context. */
function toErrorReply(
  err: FastifyError | Error,
  request: FastifyRequest,
): { status: number; body: ErrorBody } {
  if (err instanceof z.ZodError) {
    return {
      status: 400,
      body: {
        error: "bad_request",
        message: "request is invalid",
        details: err.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })),
      },
    };
  }
  const fastifyError = err as FastifyError;
  if (fastifyError.validation) {
    const context = fastifyError.validationContext ?? "request";
    return {
      status: 400,
      body: {
        error: "bad_request",
        message: err.message,
        details: fastifyError.validation.map((v) => {
          const missing = (v.params as { missingProperty?: unknown } | undefined)?.missingProperty;
          const segments = [context, ...v.instancePath.split("/").filter(Boolean)];
          if (typeof missing === "string") segments.push(missing);
          return { path: segments.join("."), message: v.message ?? "is invalid" };
        }),
      },
    };
  }
  const status = fastifyError.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    const body: ErrorBody = { error: errorCode(status), message: err.message };
    if (status === 400 && fastifyError.code?.startsWith("FST_ERR_CTP_")) {
      body.details = [{ path: "body", message: err.message }];
    }
    return { status, body };
  }
  request.log.error(
    { err, method: request.method, route: request.routeOptions.url, path: pathOnly(request.url) },
    "request failed",
  );
  return { status: 500, body: { error: "internal" } };
}

/**
 * The service's HTTP server: probes, metrics and the JSON error contract. Services add their own
 * routes (one file per endpoint) before calling `listen`.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const registry = options.registry ?? metricsRegistry;
  ensureDefaultMetrics(registry);
  const requestDuration = httpRequestDuration(registry);

  const app = Fastify({
    // Typed as Fastify's base logger so the instance is the plain FastifyInstance services expect.
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new ProbeQuietLogController(),
    requestIdHeader: "x-request-id",
    genReqId: () => randomUUID(),
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { status, body } = toErrorReply(err, request);
    return reply.code(status).send(body);
  });

  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send({ error: "not_found", message: `no route ${request.method} ${pathOnly(request.url)}` }),
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
