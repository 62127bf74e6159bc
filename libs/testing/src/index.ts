export * from "./database.ts";
export * from "./nats.ts";
export * from "./otlp-receiver.ts";
export * from "./ports.ts";
