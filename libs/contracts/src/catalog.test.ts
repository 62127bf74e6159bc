import { describe, expect, it } from "vitest";
import { catalog, eventTypes } from "./catalog.ts";
import { subjectOf } from "./create-event.ts";
import { eventJsonSchema, type JsonSchema } from "./json-schema.ts";
import { streamForSubject, streamList, subjectMatches } from "./streams.ts";
import { validateEvent } from "./validate.ts";

const definitions = eventTypes.map((type) => [type, catalog[type]] as const);

describe("catalog", () => {
  it("lists every event of the flow under its own type", () => {
    expect(eventTypes).toEqual([
      "tick",
      "token.refreshed",
      "token.failed",
      "token.refresh-requested",
      "data.ingested",
      "health.changed",
      "notification.created",
      "notification.delivered",
      "operator.alert",
    ]);
    for (const [type, def] of definitions) expect(def.type).toBe(type);
  });

  describe.each(definitions)("%s", (type, def) => {
    it("has a version and at least one example", () => {
      expect(def.version).toBe(1);
      expect(def.examples.length).toBeGreaterThan(0);
    });

    it("has examples that validate and are published under its subject pattern", () => {
      for (const example of def.examples) {
        const result = validateEvent(example);
        expect(result.ok ? "valid" : result.error).toBe("valid");
        if (!result.ok) continue;
        expect(result.event.type).toBe(type);
        expect(subjectMatches(def.subjectPattern, subjectOf(result.event))).toBe(true);
      }
    });

    it("is captured by exactly one stream, together with the subjects of its examples", () => {
      const subjects = [def.subjectPattern, ...def.examples.map((e) => subjectOf(def.envelope.parse(e)))];
      for (const subject of subjects) {
        const capturing = streamList.filter((s) => s.subjects.some((p) => subjectMatches(p, subject)));
        expect(capturing.map((s) => s.name)).toEqual([streamForSubject(def.subjectPattern)?.name]);
      }
    });

    it("rejects unknown fields in data", () => {
      for (const example of def.examples) {
        const result = validateEvent({ ...example, data: { ...example.data, accessToken: "ya29.secret" } });
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.error).toContain('Unrecognized key: "accessToken"');
      }
    });

    it("describes every field of its data", () => {
      const undocumented = fieldsWithoutDescription(eventJsonSchema(type).properties, "");
      expect(undocumented).toEqual([]);
    });
  });

  it("puts the schedule name in tick subjects", () => {
    const [example] = catalog.tick.examples;
    expect(example && subjectOf(catalog.tick.envelope.parse(example))).toBe("tick.token-refresh");
  });
});

/** Paths of object properties (at any depth, in every union branch) that carry no description. */
function fieldsWithoutDescription(properties: unknown, path: string): string[] {
  if (typeof properties !== "object" || properties === null) return [];
  return Object.entries(properties as Record<string, JsonSchema>).flatMap(([name, schema]) => {
    const here = path ? `${path}.${name}` : name;
    const missing = typeof schema.description === "string" && schema.description.length > 0 ? [] : [here];
    const branches = [schema, ...((schema.oneOf ?? schema.anyOf ?? []) as JsonSchema[])];
    return [...missing, ...branches.flatMap((branch) => fieldsWithoutDescription(branch.properties, here))];
  });
}
