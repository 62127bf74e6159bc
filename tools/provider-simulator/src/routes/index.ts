import type { FastifyInstance } from "fastify";
import type { SimulatorContext } from "../context.ts";
import { controlRoutes } from "./control/index.ts";
import { dataRoutes } from "./data/index.ts";
import { emailsRoute } from "./emails.route.ts";
import { healthzRoute } from "./healthz.route.ts";
import { tokenRoute } from "./token.route.ts";

export type RouteRegistration = (app: FastifyInstance, ctx: SimulatorContext) => void;

/**
 * What the simulated providers serve: token endpoints, the platforms' data APIs (Spotify,
 * YouTube, GitHub, Discord, Gmail, Calendar; see data/) and Resend's `POST /emails`; every route
 * here gets the global latency automatically.
 */
export const providerRoutes: readonly RouteRegistration[] = [tokenRoute, ...dataRoutes, emailsRoute];

export const allRoutes: readonly RouteRegistration[] = [healthzRoute, ...providerRoutes, ...controlRoutes];
