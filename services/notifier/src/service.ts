import { defineService } from "@syncwell/service";
import { notifierConfigSchema } from "./config.ts";

/** The notifier: decides and delivers in-app and email notifications. Its consumers and routes come with its issue; today it runs the shared runtime only. */
export const notifierService = defineService({
  name: "notifier",
  configSchema: notifierConfigSchema,
});
