import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { maskCredentials } from "../config.ts";

export type ReadinessCheck = { name: string; check: () => Promise<void> | void };

export type ReadyzOptions = { checks: ReadinessCheck[]; timeoutMs: number };

type CheckOutcome = { name: string; ok: true } | { name: string; ok: false; error: string };

const schema = {
  response: {
    "2xx": {
      type: "object",
      properties: {
        status: { type: "string" },
        checks: { type: "object", additionalProperties: { type: "string" } },
      },
      required: ["status", "checks"],
    },
    503: {
      type: "object",
      properties: {
        status: { type: "string" },
        checks: { type: "object", additionalProperties: { type: "string" } },
        errors: { type: "object", additionalProperties: { type: "string" } },
      },
      required: ["status", "checks", "errors"],
    },
  },
} as const;

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<CheckOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs}ms`)), timeoutMs);
  });
  try {
    await Promise.race([Promise.resolve().then(check.check), timeout]);
    return { name: check.name, ok: true };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { name: check.name, ok: false, error: maskCredentials(message) || "failed" };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Readiness: every check runs concurrently, each bounded by `timeoutMs`. 200 when all pass, 503
 * naming each failure. A check that changes state is logged once, not on every probe.
 */
export function readyzRoute(app: FastifyInstance, options: ReadyzOptions): void {
  const lastOk = new Map<string, boolean>();

  function logTransitions(log: FastifyBaseLogger, outcomes: CheckOutcome[]): void {
    for (const outcome of outcomes) {
      const previous = lastOk.get(outcome.name);
      lastOk.set(outcome.name, outcome.ok);
      if (!outcome.ok && previous !== false) {
        log.warn({ check: outcome.name, error: outcome.error }, "readiness check failing");
      } else if (outcome.ok && previous === false) {
        log.info({ check: outcome.name }, "readiness check recovered");
      }
    }
  }

  app.get("/readyz", { schema }, async (request, reply) => {
    const outcomes = await Promise.all(options.checks.map((check) => runCheck(check, options.timeoutMs)));
    logTransitions(request.log, outcomes);
    const checks: Record<string, string> = {};
    const errors: Record<string, string> = {};
    for (const outcome of outcomes) {
      checks[outcome.name] = outcome.ok ? "ok" : "error";
      if (!outcome.ok) errors[outcome.name] = outcome.error;
    }
    if (Object.keys(errors).length === 0) return { status: "ready", checks };
    return reply.code(503).send({ status: "not_ready", checks, errors });
  });
}
