export { type ClaimColumns, countActiveClaims, newReplicaId } from "./claims.ts";
export { type ReplicaWakeups, startReplicaWakeups, type WakeUp } from "./replica-wakeup.ts";
export {
  type ActiveClaims,
  SharedTickRuns,
  type SharedTickRunsOptions,
  type WaitForPeerClaimsOptions,
} from "./shared-tick-runs.ts";
export { tickRunConsumer } from "./tick-run-consumer.ts";
export {
  type RunConclusion,
  type RunCounts,
  type RunShare,
  type ShareResult,
  TickRunCoordinator,
  type TickRunCoordinatorOptions,
  type TickRunSummary,
} from "./tick-run-coordinator.ts";
