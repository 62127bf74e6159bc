import { describe, expect, it } from "vitest";
import { catalog } from "./catalog.ts";
import { natsPasswordVariable, OPERATOR_USER, serviceIdentityList } from "./identities.ts";
import { deadLetterSubject, streamForSubject, streams } from "./streams.ts";

describe("service identities", () => {
  it("read only subjects of the stream each consumer names, under durables unique across services", () => {
    const durables = serviceIdentityList.flatMap((identity) => identity.consumes.map((c) => c.durable));
    expect(new Set(durables).size).toBe(durables.length);
    for (const identity of serviceIdentityList) {
      for (const consumer of identity.consumes) {
        expect(streamForSubject(consumer.filterSubject), consumer.durable).toBe(streams[consumer.stream]);
        expect(streamForSubject(deadLetterSubject(consumer.durable))).toBe(streams.deadLetter);
        // Every replica of a service shares its durables; another service's name would steal its messages.
        expect(consumer.durable.startsWith(`${identity.user}-`), consumer.durable).toBe(true);
      }
    }
  });

  it("give every event exactly one producer, and keep core subjects out of the streams", () => {
    const producers = serviceIdentityList.flatMap((identity) => identity.produces);
    expect([...producers].sort()).toEqual(Object.keys(catalog).sort());
    for (const identity of serviceIdentityList) {
      for (const subject of identity.coreSubjects) expect(streamForSubject(subject), subject).toBeUndefined();
    }
  });

  it("name a password variable per user", () => {
    const users = [...serviceIdentityList.map((i) => i.user), OPERATOR_USER];
    expect(users.map(natsPasswordVariable)).toEqual([
      "SCHEDULER_NATS_PASSWORD",
      "TOKEN_SERVICE_NATS_PASSWORD",
      "POLLER_NATS_PASSWORD",
      "HEALTH_SCORER_NATS_PASSWORD",
      "NOTIFIER_NATS_PASSWORD",
      "OPERATOR_NATS_PASSWORD",
    ]);
  });
});
