import type { FastifyOtelLifecycleHookInfo } from "@fastify/otel";
import type { Span } from "@opentelemetry/api";

/** A JavaScript identifier: what a named function's `name` is, and function source text is not. */
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * @fastify/otel names the span of each hook and route handler `<hook> - <function name>`, falling
 * back to the plugin's name for an anonymous function; Fastify names an anonymous plugin after the
 * first lines of its source text, so spans (and their `hook.name`) came out as
 * `handler - async (api) => { …`. Names here are low-cardinality and readable, as the
 * OpenTelemetry conventions ask of every span name: `handler GET /connections/:id` for a route's
 * handler, `onRequest bearerAuth` for a named hook, `onRequest` for an anonymous one.
 */
export function fastifySpanName(info: FastifyOtelLifecycleHookInfo): string {
  const hook = info.hookName;
  if (hook === "handler") {
    const route = info.request.routeOptions.url;
    return route ? `handler ${info.request.method} ${route}` : "handler";
  }
  const fn = info.handler;
  // Fastify's own root plugin is called "fastify"; it says nothing about the hook.
  return fn && fn !== "fastify" && fn !== "anonymous" && IDENTIFIER.test(fn) ? `${hook} ${fn}` : hook;
}

/** The `lifecycleHook` of FastifyOtelInstrumentation: renames the hook's span as above. */
export function nameFastifySpan(span: Span, info: FastifyOtelLifecycleHookInfo): void {
  const name = fastifySpanName(info);
  span.updateName(name);
  span.setAttribute("hook.name", name);
}
