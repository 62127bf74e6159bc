import {
  catalog,
  deadLetterSubject,
  natsInboxPrefix,
  natsPasswordVariable,
  OPERATOR_USER,
  type ServiceIdentity,
  serviceIdentityList,
  streamList,
  streams,
} from "@syncwell/contracts";
import type { Naming } from "./naming.ts";

/**
 * NATS publish/subscribe permissions of each service, derived from its identity
 * (libs/contracts/src/identities.ts) and the deployment prefix. Only `allow` lists: anything not
 * listed is denied, JetStream API calls included (so no service can delete or purge a stream, or
 * touch another service's consumers).
 */
export type NatsPermissions = { publish: string[]; subscribe: string[] };

const JS_API = "$JS.API";

/**
 * What the bus itself does with every connection: `jetstreamManager()` asks for the account info,
 * and `provision()` looks at, creates or updates every stream of the contracts (any replica of any
 * service may be the first to start; creating is idempotent and updating writes the catalog's
 * settings). Deleting or purging a stream is the operator's.
 */
function provisioningApi(naming: Naming): string[] {
  return [
    `${JS_API}.INFO`,
    ...streamList.flatMap((def) => {
      const stream = naming.stream(def);
      return ["INFO", "CREATE", "UPDATE"].map((action) => `${JS_API}.STREAM.${action}.${stream}`);
    }),
  ];
}

/**
 * One durable pull consumer: create or update it (nats.js uses the filtered CREATE subject on
 * servers ≥ 2.9 and the DURABLE one before), look at it, pull from it and ack, nak or extend its
 * messages (acks are publishes to `$JS.ACK.<stream>.<durable>.…`), and dead-letter what fails.
 */
function durableConsumerSubjects(identity: ServiceIdentity, naming: Naming): string[] {
  return identity.consumes.flatMap(({ durable, stream: key, filterSubject }) => {
    const stream = naming.stream(streams[key]);
    return [
      `${JS_API}.CONSUMER.CREATE.${stream}.${durable}.${naming.subject(filterSubject)}`,
      `${JS_API}.CONSUMER.DURABLE.CREATE.${stream}.${durable}`,
      `${JS_API}.CONSUMER.INFO.${stream}.${durable}`,
      `${JS_API}.CONSUMER.MSG.NEXT.${stream}.${durable}`,
      `$JS.ACK.${stream}.${durable}.>`,
      naming.subject(deadLetterSubject(durable)),
    ];
  });
}

/**
 * A stream that is a service's private storage (the token journal): it writes any subject of it,
 * reads with ephemeral ordered consumers (created without a name, then looked at, pulled from and
 * deleted under the name the server gives them) and deletes or reads single messages.
 */
function ownStreamSubjects(identity: ServiceIdentity, naming: Naming): string[] {
  return identity.ownStreams.flatMap((key) => {
    const def = streams[key];
    const stream = naming.stream(def);
    return [
      ...def.subjects.map((s) => naming.subject(s)),
      `${JS_API}.CONSUMER.CREATE.${stream}`,
      `${JS_API}.CONSUMER.CREATE.${stream}.>`,
      `${JS_API}.CONSUMER.INFO.${stream}.*`,
      `${JS_API}.CONSUMER.DELETE.${stream}.*`,
      `${JS_API}.CONSUMER.MSG.NEXT.${stream}.*`,
      `$JS.ACK.${stream}.>`,
      `${JS_API}.STREAM.MSG.GET.${stream}`,
      `${JS_API}.STREAM.MSG.DELETE.${stream}`,
    ];
  });
}

/** Publish and subscribe permissions of one service under the deployment's prefix. */
export function servicePermissions(identity: ServiceIdentity, naming: Naming): NatsPermissions {
  const produced = identity.produces.map((type) => naming.subject(catalog[type].subjectPattern));
  const core = identity.coreSubjects.map((s) => naming.subject(s));
  const publish = [
    ...produced,
    ...core,
    ...provisioningApi(naming),
    ...durableConsumerSubjects(identity, naming),
    ...ownStreamSubjects(identity, naming),
    ...(identity.listsConsumersOf ?? []).map(
      (key) => `${JS_API}.CONSUMER.LIST.${naming.stream(streams[key])}`,
    ),
  ];
  // Every reply (JetStream API answers, publish acks, pulled messages) comes to the inbox.
  const subscribe = [`${natsInboxPrefix(identity.user)}.>`, ...core];
  return { publish: [...new Set(publish)], subscribe: [...new Set(subscribe)] };
}

/** The operator may do anything: publish by hand, read every stream, manage streams and consumers. */
export const operatorPermissions: NatsPermissions = { publish: [">"], subscribe: [">"] };

export type NatsUser = { user: string; passwordVariable: string; permissions: NatsPermissions };

/** Every NATS user of a deployment with `naming`'s prefix: the services, then the operator. */
export function natsUsers(naming: Naming): NatsUser[] {
  return [
    ...serviceIdentityList.map((identity) => ({
      user: identity.user,
      passwordVariable: natsPasswordVariable(identity.user),
      permissions: servicePermissions(identity, naming),
    })),
    {
      user: OPERATOR_USER,
      passwordVariable: natsPasswordVariable(OPERATOR_USER),
      permissions: operatorPermissions,
    },
  ];
}

function renderList(subjects: string[], indent: string): string {
  return `[\n${subjects.map((s) => `${indent}  ${JSON.stringify(s)}`).join("\n")}\n${indent}]`;
}

/**
 * The `authorization` block of a nats-server configuration. Passwords are `$<USER>_NATS_PASSWORD`
 * references that the server resolves from its environment when it starts (and refuses to start
 * when one is missing), so the file holds no secret and can be committed.
 */
export function renderNatsAuthorization(naming: Naming): string {
  const users = natsUsers(naming).map(({ user, passwordVariable, permissions }) =>
    [
      "    {",
      `      user: ${JSON.stringify(user)}`,
      `      password: $${passwordVariable}`,
      "      permissions: {",
      `        publish: { allow: ${renderList(permissions.publish, "        ")} }`,
      `        subscribe: { allow: ${renderList(permissions.subscribe, "        ")} }`,
      "      }",
      "    }",
    ].join("\n"),
  );
  return ["authorization {", "  users: [", ...users, "  ]", "}", ""].join("\n");
}
