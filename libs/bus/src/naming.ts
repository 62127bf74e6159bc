import type { StreamDefinition } from "@syncwell/contracts";

const PREFIX_PATTERN = /^[A-Za-z0-9_-]*$/;

/**
 * A deployment prefix lets two deployments (or two test runs) share one NATS server: every subject
 * becomes `<prefix>.<subject>` and every stream `<PREFIX>_<NAME>`. The empty prefix is the default.
 */
export class Naming {
  readonly prefix: string;

  constructor(prefix = "") {
    if (!PREFIX_PATTERN.test(prefix)) {
      throw new Error(`invalid NATS prefix "${prefix}": use letters, digits, "_" and "-" only`);
    }
    this.prefix = prefix;
  }

  /** Absolute subject for a relative one (`token.refreshed` → `acme.token.refreshed`). */
  subject(relative: string): string {
    return this.prefix ? `${this.prefix}.${relative}` : relative;
  }

  /** Relative subject for an absolute one, or the subject unchanged if it lacks the prefix. */
  relative(subject: string): string {
    const head = `${this.prefix}.`;
    return this.prefix && subject.startsWith(head) ? subject.slice(head.length) : subject;
  }

  stream(def: Pick<StreamDefinition, "name">): string {
    return this.prefix ? `${this.prefix.toUpperCase().replaceAll("-", "_")}_${def.name}` : def.name;
  }
}
