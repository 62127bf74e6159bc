import type { FastifyInstance } from "fastify";
import type { SimulatorContext } from "../context.ts";
import { controlRoutes } from "./control/index.ts";
import { healthzRoute } from "./healthz.route.ts";
import { tokenRoute } from "./token.route.ts";

export type RouteRegistration = (app: FastifyInstance, ctx: SimulatorContext) => void;

/**
 * What the simulated providers serve. Data APIs (Gmail, Calendar, Spotify, YouTube, GitHub,
 * Discord) and the Resend-compatible email endpoint join this list as one file per endpoint; they
 * get the global latency automatically and check bearers with `ctx.state.validateAccessToken`.
 */
export const providerRoutes: readonly RouteRegistration[] = [tokenRoute];

export const allRoutes: readonly RouteRegistration[] = [healthzRoute, ...providerRoutes, ...controlRoutes];
