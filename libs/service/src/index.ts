export {
  defineService,
  type RunningService,
  type RunningServiceOf,
  type RunOptions,
  runService,
  type ServiceContext,
  type ServiceDefinition,
  type ServiceParts,
} from "./service.ts";
