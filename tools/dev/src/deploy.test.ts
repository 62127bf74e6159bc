/**
 * Checks the deployment files without Docker or a cluster: every YAML parses, kustomize references
 * exist, every workload is locked down and probed, and compose, Kubernetes and the local runner
 * agree on the list of services.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { natsPasswordVariable, OPERATOR_USER, serviceIdentityList } from "@syncwell/contracts";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { BUNDLED_SERVICES, serviceBundle, TELEMETRY_PRELOAD_BUNDLE } from "./bundle.ts";
import { staleNatsConfigFiles } from "./nats-config.ts";
import { PROCESSES, serviceNodeFlags } from "./processes.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const K8S = join(ROOT, "deploy/k8s");
const SERVICES = PROCESSES.filter((p) => p.telemetry).map((p) => p.name);
const NATS_USERS = [...serviceIdentityList.map((i) => i.user), OPERATOR_USER];

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value at a dotted path, or undefined. */
function at(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split(".")) {
    if (!isObj(current)) return undefined;
    current = current[key];
  }
  return current;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

function load(path: string): Obj[] {
  // merge: `<<` keys, which docker compose resolves (YAML 1.1), are off by default in YAML 1.2.
  const docs = parseAllDocuments(readFileSync(path, "utf8"), { merge: true });
  const problems = docs.flatMap((d) => [...d.errors, ...d.warnings].map((e) => e.message));
  if (problems.length > 0) throw new Error(`${relative(ROOT, path)}: ${problems.join("; ")}`);
  return docs.map((d) => d.toJS() as unknown).filter(isObj);
}

function manifests(...dirs: string[]): Obj[] {
  return dirs
    .flatMap((dir) => yamlFiles(join(K8S, dir)))
    .filter((path) => !path.endsWith("kustomization.yaml"))
    .flatMap(load);
}

function find(docs: Obj[], kind: string, name: string): Obj | undefined {
  return docs.find((d) => d.kind === kind && at(d, "metadata.name") === name);
}

describe("YAML", () => {
  it("every file under deploy/k8s and docker-compose.yml parses", () => {
    const files = [...yamlFiles(K8S), join(ROOT, "docker-compose.yml")];
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) expect(() => load(file), relative(ROOT, file)).not.toThrow();
  });
});

describe("kustomize", () => {
  const kustomizations = yamlFiles(K8S).filter((p) => p.endsWith("kustomization.yaml"));

  it("has a base and the local and production overlays", () => {
    expect(kustomizations.map((p) => relative(K8S, p)).sort()).toEqual([
      "base/kustomization.yaml",
      "overlays/local/kustomization.yaml",
      "overlays/production/kustomization.yaml",
    ]);
  });

  it.each(kustomizations.map((p) => [relative(K8S, p), p]))("%s refers to files that exist", (_, path) => {
    const [k] = load(path);
    const dir = dirname(path);
    const referenced = [
      ...list(k?.resources),
      ...list(k?.patches).map((p) => at(p, "path")),
      ...list(k?.configMapGenerator).flatMap((g) => [...list(at(g, "files")), ...list(at(g, "envs"))]),
    ].filter((r): r is string => typeof r === "string");
    expect(referenced.length).toBeGreaterThan(0);
    for (const ref of referenced) expect(existsSync(join(dir, ref)), ref).toBe(true);
  });
});

describe("Kubernetes workloads", () => {
  const docs = manifests("base", "overlays/local");
  const workloads = docs.filter((d) => ["Deployment", "StatefulSet", "Job"].includes(String(d.kind)));

  it.each(workloads.map((w) => [`${w.kind}/${at(w, "metadata.name")}`, w]))(
    "%s runs as non-root, read-only, without capabilities, with resources",
    (_, workload) => {
      const pod = at(workload, "spec.template.spec");
      expect(at(pod, "securityContext.runAsNonRoot")).toBe(true);
      expect(at(pod, "securityContext.seccompProfile.type")).toBe("RuntimeDefault");
      const containers = list(at(pod, "containers"));
      expect(containers.length).toBeGreaterThan(0);
      for (const c of containers) {
        expect(at(c, "securityContext.allowPrivilegeEscalation")).toBe(false);
        expect(at(c, "securityContext.readOnlyRootFilesystem")).toBe(true);
        expect(at(c, "securityContext.runAsNonRoot")).toBe(true);
        expect(at(c, "securityContext.capabilities.drop")).toEqual(["ALL"]);
        expect(at(c, "resources.requests.cpu")).toBeDefined();
        expect(at(c, "resources.requests.memory")).toBeDefined();
        expect(at(c, "resources.limits.memory")).toBeDefined();
      }
    },
  );

  it.each(SERVICES)("%s has a probed Deployment, a Service and a disruption budget", (name) => {
    const deployment = find(docs, "Deployment", name);
    const container = list(at(deployment, "spec.template.spec.containers"))[0];
    expect(at(container, "args")).toEqual([name]);
    expect(at(container, "livenessProbe.httpGet.path")).toBe("/healthz");
    expect(at(container, "readinessProbe.httpGet.path")).toBe("/readyz");
    expect(list(at(container, "ports")).map((p) => at(p, "containerPort"))).toEqual([3000]);
    expect(find(docs, "Service", name)).toBeDefined();
    expect(find(docs, "PodDisruptionBudget", name)).toBeDefined();
  });

  it("refers only to Secrets and ConfigMaps that exist, with working values in the local overlay", () => {
    const secrets = docs.filter((d) => d.kind === "Secret").map((d) => at(d, "metadata.name"));
    for (const workload of workloads) {
      for (const container of list(at(workload, "spec.template.spec.containers"))) {
        for (const source of list(at(container, "envFrom"))) {
          const secret = at(source, "secretRef.name");
          if (secret !== undefined) expect(secrets, String(at(workload, "metadata.name"))).toContain(secret);
          const configMap = at(source, "configMapRef.name");
          if (configMap !== undefined) expect(configMap).toBe("syncwell-config");
        }
        for (const variable of list(at(container, "env"))) {
          const secret = at(variable, "valueFrom.secretKeyRef.name");
          if (secret !== undefined) expect(secrets, String(at(workload, "metadata.name"))).toContain(secret);
        }
      }
    }
    expect(readFileSync(join(K8S, "overlays/local/secret.yaml"), "utf8")).not.toContain("CHANGE-ME");
  });

  it("lets the autoscaler alone set the poller's and token-service's replicas", () => {
    for (const name of ["poller", "token-service"]) {
      expect(at(find(docs, "HorizontalPodAutoscaler", name), "spec.scaleTargetRef.name")).toBe(name);
      expect(at(find(docs, "Deployment", name), "spec.replicas")).toBeUndefined();
    }
  });

  it("serves HTTP on the port the ConfigMap gives the services", () => {
    expect(readFileSync(join(K8S, "base/config.env"), "utf8")).toMatch(/^HTTP_PORT=3000$/m);
  });

  it("keeps JetStream on a persistent volume and runs the migration as a Job", () => {
    const nats = find(docs, "StatefulSet", "nats");
    expect(list(at(nats, "spec.volumeClaimTemplates")).map((v) => at(v, "metadata.name"))).toEqual(["data"]);
    expect(readFileSync(join(K8S, "base/nats.conf"), "utf8")).toMatch(/jetstream\s*\{[^}]*store_dir: \/data/);
    expect(at(list(at(find(docs, "Job", "migrate"), "spec.template.spec.containers"))[0], "args")).toEqual([
      "migrate",
    ]);
  });
});

describe("NATS users", () => {
  const docs = manifests("base", "overlays/local");

  it("nats.conf of compose and Kubernetes is what the service identities generate (npm run nats:config)", () => {
    expect(staleNatsConfigFiles()).toEqual([]);
  });

  it.each(SERVICES)("%s connects as its own NATS user, with its password from nats-users", (name) => {
    const container = list(at(find(docs, "Deployment", name), "spec.template.spec.containers"))[0];
    const env = list(at(container, "env"));
    const named = (n: string) => env.find((e) => at(e, "name") === n);
    expect(at(named("NATS_USER"), "value")).toBe(name);
    expect(at(named("NATS_PASSWORD"), "valueFrom.secretKeyRef")).toEqual({
      name: "nats-users",
      key: natsPasswordVariable(name),
    });
  });

  it("gives the NATS server every user's password, with working values in the local overlay", () => {
    const server = list(at(find(docs, "StatefulSet", "nats"), "spec.template.spec.containers"))[0];
    expect(list(at(server, "envFrom")).map((s) => at(s, "secretRef.name"))).toContain("nats-users");
    const keys = (dir: string) => {
      const secret = find(manifests(dir), "Secret", "nats-users");
      return Object.keys((at(secret, "stringData") as Obj | undefined) ?? {}).sort();
    };
    const expected = NATS_USERS.map(natsPasswordVariable).sort();
    expect(keys("base")).toEqual(expected);
    expect(keys("overlays/local")).toEqual(expected);
    const production = readFileSync(join(K8S, "overlays/production/kustomization.yaml"), "utf8");
    expect(production).toMatch(/\$patch: delete[^-]*name: nats-users/);
  });
});

describe("docker-compose.yml", () => {
  const [compose] = load(join(ROOT, "docker-compose.yml"));
  const services = at(compose, "services");
  const names = isObj(services) ? Object.keys(services) : [];

  it("has the infrastructure, the migration, the simulator and the five services", () => {
    expect(names.sort()).toEqual(
      ["nats", "postgres", "jaeger", "migrate", "provider-simulator", ...SERVICES].sort(),
    );
  });

  it("gives every health check a command of plain strings", () => {
    for (const name of names) {
      for (const part of list(at(services, `${name}.healthcheck.test`)))
        expect(typeof part, name).toBe("string");
    }
  });

  it("depends only on services it defines", () => {
    for (const name of names) {
      for (const dependency of Object.keys(at(services, `${name}.depends_on`) ?? {})) {
        expect(names, `${name} → ${dependency}`).toContain(dependency);
      }
    }
  });

  it("runs NATS with the generated configuration, each service as its own user", () => {
    expect(at(services, "nats.command")).toEqual(["--config", "/etc/nats/nats.conf"]);
    expect(list(at(services, "nats.volumes"))).toContain("./deploy/compose/nats.conf:/etc/nats/nats.conf:ro");
    const serverEnv = at(services, "nats.environment");
    for (const user of NATS_USERS) {
      expect(at(serverEnv, natsPasswordVariable(user)), user).toMatch(/^\$\{[A-Z_]+:-[a-z][a-z-]+\}$/);
    }
    for (const name of SERVICES) {
      const env = at(services, `${name}.environment`);
      expect(at(env, "NATS_USER")).toBe(name);
      // The same variable and placeholder as the server's, so the two always agree.
      expect(at(env, "NATS_PASSWORD")).toBe(at(serverEnv, natsPasswordVariable(name)));
    }
  });

  it("starts each service after the migration, on the local runner's port", () => {
    for (const p of PROCESSES) {
      const service = at(services, p.name);
      expect(at(service, "command")).toEqual([p.name]);
      expect(list(at(service, "ports"))[0]).toMatch(new RegExp(`^${p.port}:`));
      if (p.telemetry) {
        expect(at(service, "depends_on.migrate.condition")).toBe("service_completed_successfully");
      }
    }
  });
});

describe("image", () => {
  it("the entrypoint knows every service", () => {
    const entrypoint = readFileSync(join(ROOT, "scripts/docker-entrypoint.sh"), "utf8");
    const pattern = entrypoint.match(/^\s*(scheduler[^)]*)\)$/m)?.[1] ?? "";
    expect(pattern.split("|").map((s) => s.trim())).toEqual(SERVICES);
  });

  it("runs each service's bundle, which the image builds before it prunes the build tools", () => {
    const entrypoint = readFileSync(join(ROOT, "scripts/docker-entrypoint.sh"), "utf8");
    expect(entrypoint).toContain(
      `exec node --import ./${TELEMETRY_PRELOAD_BUNDLE} "services/$what/dist/main.mjs"`,
    );
    for (const name of BUNDLED_SERVICES) expect(serviceBundle(name)).toBe(`services/${name}/dist/main.mjs`);
    expect([...BUNDLED_SERVICES]).toEqual(SERVICES);
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    const build = dockerfile.indexOf("RUN npm run build");
    expect(build).toBeGreaterThan(dockerfile.indexOf("npm run generate"));
    expect(build).toBeLessThan(dockerfile.indexOf("npm prune"));
  });

  it("gives each service the Node flags scripts/start.sh and the benches give it (PROCESSES)", () => {
    const entrypoint = readFileSync(join(ROOT, "scripts/docker-entrypoint.sh"), "utf8");
    for (const name of SERVICES) {
      const set = entrypoint.match(
        new RegExp(`"\\$what" = ${name} \\]; then(?:\\n\\s*#.*)*\\n\\s*export NODE_OPTIONS="([^$]*)\\$`),
      );
      expect(set?.[1]?.split(" ") ?? [], name).toEqual([...serviceNodeFlags(name)]);
    }
  });

  it("needs no optional package at run time (the Dockerfile prunes with --omit=optional)", () => {
    // pg-cloudflare: pg's socket for Cloudflare Workers, never loaded on Node.
    const allowed = new Set(["node_modules/pg-cloudflare"]);
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
      packages: Record<string, { optional?: boolean; dev?: boolean; devOptional?: boolean }>;
    };
    const runtimeOptional = Object.entries(lock.packages)
      .filter(([path, p]) => p.optional && !p.dev && !p.devOptional && !allowed.has(path))
      .map(([path]) => path);
    expect(runtimeOptional, "new optional runtime packages: check the Dockerfile's npm prune").toEqual([]);
  });
});
