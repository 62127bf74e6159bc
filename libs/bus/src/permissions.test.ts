import { serviceIdentities, serviceIdentityList } from "@syncwell/contracts";
import { describe, expect, it } from "vitest";
import { Naming } from "./naming.ts";
import { renderNatsAuthorization, servicePermissions } from "./permissions.ts";

describe("servicePermissions", () => {
  it("puts the deployment prefix on every subject but the JetStream API's", () => {
    const naming = new Naming("acme");
    for (const identity of serviceIdentityList) {
      const { publish, subscribe } = servicePermissions(identity, naming);
      for (const subject of [...publish, ...subscribe]) {
        if (subject.startsWith("$JS.") || subject.startsWith("_INBOX_")) continue;
        expect(subject, identity.user).toMatch(/^acme\./);
      }
      for (const subject of publish.filter((s) => s.startsWith("$JS.API.STREAM."))) {
        expect(subject, identity.user).toMatch(/\.ACME_[A-Z_]+$/);
      }
    }
  });

  it("never lets a service delete or purge a stream, or use a full wildcard", () => {
    for (const identity of serviceIdentityList) {
      const { publish, subscribe } = servicePermissions(identity, new Naming(""));
      expect(
        publish.filter((s) => /STREAM\.(DELETE|PURGE)\./.test(s)),
        identity.user,
      ).toEqual([]);
      expect([...publish, ...subscribe]).not.toContain(">");
      expect(subscribe, identity.user).not.toContain("_INBOX.>");
    }
  });

  it("gives the token journal to the token service alone", () => {
    const journalSubjects = (user: keyof typeof serviceIdentities) =>
      servicePermissions(serviceIdentities[user], new Naming("")).publish.filter(
        (s) =>
          s.includes("TOKEN_JOURNAL") &&
          !s.includes(".STREAM.INFO.") &&
          !s.includes(".STREAM.CREATE.") &&
          !s.includes(".STREAM.UPDATE."),
      );
    expect(journalSubjects("token-service")).toContain("$JS.API.STREAM.MSG.DELETE.TOKEN_JOURNAL");
    expect(journalSubjects("poller")).toEqual([]);
  });

  it("renders password references, never passwords", () => {
    const text = renderNatsAuthorization(new Naming(""));
    expect(text).toContain("password: $POLLER_NATS_PASSWORD");
    expect(text.match(/password: /g)?.length).toBe(serviceIdentityList.length + 1);
    expect(text).not.toMatch(/password: "[^$]/);
  });
});
