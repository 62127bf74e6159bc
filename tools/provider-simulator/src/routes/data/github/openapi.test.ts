// The simulator's GitHub answers, validated against GitHub's own OpenAPI description
// (`@octokit/openapi`) with a JSON Schema validator: tests pass against GitHub as it is described,
// not against the simulator's idea of it.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { describe, expect, it } from "vitest";
import { githubEventTypes } from "../../../data/github.ts";
import { apiGet, startSimulator } from "../../../test-support.ts";

type Schema = Record<string, unknown>;
type Description = { components: { schemas: Record<string, Schema> } };

const path = createRequire(import.meta.url).resolve("@octokit/openapi/generated/api.github.com.json");
const description = withNullableRefs(JSON.parse(readFileSync(path, "utf8")) as Description);

/**
 * OpenAPI 3.0's `nullable: true` beside a `$ref` or `allOf` (no `type`), which the description
 * uses, is not JSON Schema and Ajv refuses it: such a schema becomes `anyOf: [it, null]`.
 */
function withNullableRefs<T>(node: T): T {
  if (Array.isArray(node)) return node.map(withNullableRefs) as T;
  if (typeof node !== "object" || node === null) return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) out[key] = withNullableRefs(value);
  if (out.nullable === true && out.type === undefined) {
    const { nullable: _nullable, ...rest } = out;
    return { anyOf: [rest, { type: "null" }] } as T;
  }
  return out as T;
}

// Ajv understands `nullable` with a `type`; `discriminator`, `example` and `x-*` are not JSON
// Schema, hence strict: false. The description is one document: its refs resolve inside it.
const ajv = new Ajv({ strict: false, allErrors: true });
(addFormatsModule as unknown as (ajv: Ajv) => Ajv)(ajv);
ajv.addSchema(description as unknown as Schema, "github");

/** A schema of the description, its `#/components/...` refs pointing into the description. */
function inDescription(schema: Schema): Schema {
  return JSON.parse(JSON.stringify(schema).replaceAll('"$ref":"#/', '"$ref":"github#/')) as Schema;
}

const validators = new Map<string, ValidateFunction>();
function validator(name: string, override?: (schema: Schema) => Schema): ValidateFunction {
  const key = `${name}${override ? "*" : ""}`;
  let validate = validators.get(key);
  if (validate === undefined) {
    const schema = description.components.schemas[name];
    if (schema === undefined) throw new Error(`GitHub's description has no schema ${name}`);
    validate = ajv.compile(inDescription(override ? override(structuredClone(schema)) : schema));
    validators.set(key, validate);
  }
  return validate;
}

/** Every error of `value` against the schema, as `path message` lines (empty when valid). */
function errorsOf(validate: ValidateFunction, value: unknown): string[] {
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

/**
 * An event's `payload` is a `oneOf` of every payload type in the description, and several of them
 * (a WatchEvent's is only `{ action }`) match payloads of other types too, so `oneOf` refuses
 * real events as matching more than one. Each payload is checked against the schema its `type`
 * names instead, and the rest of the event against `event` with any object as payload.
 */
const PAYLOAD_SCHEMA: Record<(typeof githubEventTypes)[number], string> = {
  PushEvent: "push-event",
  PullRequestEvent: "pull-request-event",
  IssuesEvent: "issues-event",
  IssueCommentEvent: "issue-comment-event",
  CreateEvent: "create-event",
  WatchEvent: "watch-event",
};

function eventErrors(event: { type: keyof typeof PAYLOAD_SCHEMA; payload: unknown }): string[] {
  const envelope = validator("event", (schema) => ({
    ...schema,
    properties: { ...(schema.properties as Schema), payload: { type: "object" } },
  }));
  const name = PAYLOAD_SCHEMA[event.type];
  const payload = validator(name);
  // GitHub trimmed event payloads (a PushEvent no longer lists its commits): a field the current
  // description does not list would be one a real answer no longer has.
  const listed = Object.keys(description.components.schemas[name]?.properties as Schema);
  const unlisted = Object.keys(event.payload as Schema)
    .filter((key) => !listed.includes(key))
    .map((key) => `/payload/${key} is not in the description`);
  return [
    ...errorsOf(envelope, event),
    ...errorsOf(payload, event.payload).map((e) => `/payload${e}`),
    ...unlisted,
  ];
}

describe("GitHub answers as GitHub's OpenAPI description has them", () => {
  it("GET /user is a private user", async () => {
    const sim = await startSimulator({ dataItems: { min: 10, max: 10 } });
    const grant = await sim.control.createGrant({ provider: "github", connectionKey: "gh-oa-1" });
    const user = await apiGet<unknown>(`${sim.control.apiUrl("github")}/user`, grant.accessToken);
    expect(errorsOf(validator("private-user"), user.json)).toEqual([]);
  });

  it("GET /user/repos lists repositories, owned by users and organisations", async () => {
    const sim = await startSimulator({ dataItems: { min: 60, max: 60 } });
    const grant = await sim.control.createGrant({ provider: "github", connectionKey: "gh-oa-2" });
    await sim.control.addData("github", "repos", { connectionKey: "gh-oa-2", count: 2 });
    const repos = await apiGet<Array<{ owner: { type: string } }>>(
      `${sim.control.apiUrl("github")}/user/repos?per_page=100`,
      grant.accessToken,
    );
    expect(new Set(repos.json.map((repo) => repo.owner.type))).toEqual(new Set(["User", "Organization"]));
    const errors = repos.json.flatMap((repo, i) =>
      errorsOf(validator("repository"), repo).map((e) => `[${i}]${e}`),
    );
    expect(errors).toEqual([]);
  });

  it("GET /users/{login}/events lists events of every type the simulator makes", async () => {
    const sim = await startSimulator({ dataItems: { min: 80, max: 80 } });
    const grant = await sim.control.createGrant({ provider: "github", connectionKey: "gh-oa-3" });
    for (const type of githubEventTypes) {
      await sim.control.addData("github", "events", { connectionKey: "gh-oa-3", items: [{ type }] });
    }
    const api = sim.control.apiUrl("github");
    const { login } = (await apiGet<{ login: string }>(`${api}/user`, grant.accessToken)).json;
    const events = await apiGet<Array<{ type: keyof typeof PAYLOAD_SCHEMA; payload: unknown }>>(
      `${api}/users/${login}/events?per_page=100`,
      grant.accessToken,
    );
    expect(new Set(events.json.map((event) => event.type))).toEqual(new Set(githubEventTypes));
    const errors = events.json.flatMap((event, i) =>
      eventErrors(event).map((e) => `[${i}] ${event.type}${e}`),
    );
    expect([...new Set(errors)]).toEqual([]);
  });
});
