export * from "./client.ts";
export type { SimulatorContext } from "./context.ts";
export type { Participant } from "./data/account.ts";
export { type DataPlatform, dataPlatforms, platformProviders } from "./data/dataset.ts";
export { resourceNames } from "./data/index.ts";
export {
  defaultErrorCode,
  type Fault,
  type FaultEndpoint,
  type FaultKind,
  type FaultMatch,
  faultEndpoints,
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
