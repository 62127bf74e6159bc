export * from "./client.ts";
export type { SimulatorContext } from "./context.ts";
export {
  defaultErrorCode,
  type Fault,
  type FaultKind,
  type FaultMatch,
  faultMatchSchema,
  faultSchema,
  faultStatuses,
  type ScriptedFault,
} from "./faults.ts";
export * from "./grants.ts";
export * from "./providers.ts";
export type { RateLimitConfig } from "./rate-limit.ts";
export type { RouteRegistration } from "./routes/index.ts";
export * from "./server.ts";
export * from "./state.ts";
