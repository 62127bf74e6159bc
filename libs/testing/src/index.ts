export * from "./database.ts";
export * from "./events.ts";
export * from "./measure.ts";
export * from "./nats.ts";
export * from "./otlp-receiver.ts";
export * from "./ports.ts";
export * from "./service.ts";
export * from "./wait.ts";
