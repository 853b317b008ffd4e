// What the Kubernetes manifests must hold, checked on what `kustomize build`
// renders for each overlay: valid objects (the Kubernetes OpenAPI schemas),
// hardened and probed containers, and network edges that are exactly the ones
// the parts' own configuration code declares.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import * as certManager from "@kubernetes-models/cert-manager";
import * as gatewayApi from "@kubernetes-models/gateway-api";
import * as kubernetes from "kubernetes-models";
import type { z } from "zod";
import { gatewayEnv, loadGatewayConfig } from "../gateway/config.js";
import { defaultPorts } from "../platform/config/index.js";
import { entryPointOf, type MeshPart, meshParts, nodeArgumentsFor } from "../scripts/mesh-parts.js";
import { basketEnv, loadBasketConfig } from "../services/basket/config.js";
import { catalogEnv, loadCatalogConfig } from "../services/catalog/config.js";
import { identityEnvSchema, loadIdentityConfig } from "../services/identity/config.js";
import { loadOrderingConfig, orderingEnv } from "../services/ordering/config.js";
import { type KubernetesObject, kustomizeBinary, kustomizeBuild } from "../test/support/kustomize.js";

const deployDir = dirname(fileURLToPath(import.meta.url));
const overlays = ["local", "production"] as const;
type Overlay = (typeof overlays)[number];

// Each part's environment schema and loader: the source of truth for what it talks to.
const envSchemas: Record<MeshPart, z.ZodObject<z.ZodRawShape>> = {
  identity: identityEnvSchema,
  catalog: catalogEnv,
  basket: basketEnv,
  ordering: orderingEnv,
  gateway: gatewayEnv,
};
const loaders: Record<MeshPart, (env: Record<string, string>) => unknown> = {
  identity: loadIdentityConfig,
  catalog: loadCatalogConfig,
  basket: loadBasketConfig,
  ordering: loadOrderingConfig,
  gateway: loadGatewayConfig,
};
const services = meshParts.filter((part): part is Exclude<MeshPart, "gateway"> => part !== "gateway");
// The protocols' own ports, for the URL variables a part declares.
const backingPorts = { broker: 5672, postgresql: 5432, mongodb: 27017 } as const;

/**
 * The connections `part` makes, read off the variables its env schema
 * declares: MEL_<SERVICE>_ADDRESS is a gRPC upstream, MEL_RABBITMQ_URL the
 * broker, MEL_<PART>_DATABASE_URL / _MONGODB_URL its own store. Backing
 * services are named by port only, since where they run is the overlay's choice.
 */
function declaredEdges(part: MeshPart): Set<string> {
  const keys = Object.keys(envSchemas[part].shape);
  const edges = new Set<string>();
  for (const upstream of services) {
    if (upstream !== part && keys.includes(`MEL_${upstream.toUpperCase()}_ADDRESS`)) edges.add(`${part}->${upstream}:${defaultPorts[upstream]}`);
  }
  if (keys.includes("MEL_RABBITMQ_URL")) edges.add(`${part}->backing:${backingPorts.broker}`);
  if (keys.includes(`MEL_${part.toUpperCase()}_DATABASE_URL`)) edges.add(`${part}->backing:${backingPorts.postgresql}`);
  if (keys.includes(`MEL_${part.toUpperCase()}_MONGODB_URL`)) edges.add(`${part}->backing:${backingPorts.mongodb}`);
  return edges;
}
const allDeclaredEdges = new Set(meshParts.flatMap((part) => [...declaredEdges(part)]));
const meshPorts = new Set<number>(services.map((service) => defaultPorts[service]));

// Every model class the schema packages export, by apiVersion and kind.
interface ModelClass {
  apiVersion: string;
  kind: string;
  new (data: unknown): { validate(): void };
}
const models = new Map<string, ModelClass>();
function collectModels(namespace: unknown, seen = new Set<unknown>()): void {
  if (namespace === null || (typeof namespace !== "object" && typeof namespace !== "function") || seen.has(namespace)) return;
  seen.add(namespace);
  const candidate = namespace as Partial<ModelClass>;
  if (typeof namespace === "function" && typeof candidate.apiVersion === "string" && typeof candidate.kind === "string") {
    models.set(`${candidate.apiVersion}/${candidate.kind}`, namespace as ModelClass);
    return;
  }
  if (typeof namespace === "object") for (const value of Object.values(namespace)) collectModels(value, seen);
}
collectModels(kubernetes);
collectModels(gatewayApi);
collectModels(certManager);

const rendered = {} as Record<Overlay, KubernetesObject[]>;
before(() => {
  const binary = kustomizeBinary();
  for (const overlay of overlays) rendered[overlay] = kustomizeBuild(binary, join(deployDir, "overlays", overlay));
});

// Shapes of the parts of the objects the checks read.
interface Container {
  name: string;
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  envFrom?: { configMapRef?: { name: string } }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Probe {
  grpc?: { port: number; service?: string };
  httpGet?: { path: string; port: number | string };
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
  volumes?: { name: string; secret?: { secretName: string } }[];
}
interface Deployment extends KubernetesObject {
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface PeerSelector {
  podSelector?: { matchLabels?: Record<string, string> };
  namespaceSelector?: { matchLabels?: Record<string, string> };
}
interface NetworkPolicyRule {
  to?: PeerSelector[];
  from?: PeerSelector[];
  ports?: { port: number; protocol?: string }[];
}
interface NetworkPolicy extends KubernetesObject {
  spec: { podSelector: { matchLabels?: Record<string, string> }; policyTypes?: string[]; ingress?: NetworkPolicyRule[]; egress?: NetworkPolicyRule[] };
}

const nameLabel = "app.kubernetes.io/name";
const ofKind = <T extends KubernetesObject>(objects: KubernetesObject[], kind: string) => objects.filter((object) => object.kind === kind) as T[];
const deploymentOf = (objects: KubernetesObject[], part: MeshPart): Deployment => {
  const deployment = ofKind<Deployment>(objects, "Deployment").find((object) => object.metadata.name === part);
  assert.ok(deployment, `no Deployment ${part}`);
  return deployment;
};
const containerOf = (objects: KubernetesObject[], part: MeshPart): Container => {
  const container = deploymentOf(objects, part).spec.template.spec.containers.find((candidate) => candidate.name === part);
  assert.ok(container, `Deployment ${part} has no container ${part}`);
  return container;
};

/** The environment a part's container gets: its ConfigMaps, then its own env, with secrets read from `secrets` when rendered. */
function environmentOf(objects: KubernetesObject[], part: MeshPart, fakeSecret: (key: string) => string): Record<string, string> {
  const container = containerOf(objects, part);
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const configMap = ofKind<KubernetesObject & { data?: Record<string, string> }>(objects, "ConfigMap").find(
      (object) => object.metadata.name === source.configMapRef?.name,
    );
    assert.ok(configMap, `${part}: ConfigMap ${source.configMapRef?.name} is not rendered`);
    Object.assign(env, configMap.data);
  }
  const secrets = ofKind<KubernetesObject & { data?: Record<string, string> }>(objects, "Secret");
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    if (ref === undefined) {
      env[variable.name] = variable.value ?? "";
      continue;
    }
    const encoded = secrets.find((secret) => secret.metadata.name === ref.name)?.data?.[ref.key];
    env[variable.name] = encoded === undefined ? fakeSecret(ref.key) : Buffer.from(encoded, "base64").toString("utf8");
  }
  return env;
}

/** Values of the right shape for Secrets an overlay leaves to the operator. */
function stubSecret(key: string): string {
  if (key.endsWith("database-url")) return `postgres://mel@db.example:5432/${key.split("-")[0]}`;
  if (key.endsWith("mongodb-url")) return "mongodb://mongo.example:27017/mel-basket";
  if (key === "rabbitmq-url") return "amqps://mel@broker.example:5671";
  if (key === "identity-key-encryption-key") return Buffer.alloc(32, 7).toString("base64");
  return "x".repeat(48);
}

function partsSelectedBy(policy: NetworkPolicy): MeshPart[] {
  const name = policy.spec.podSelector.matchLabels?.[nameLabel];
  if (name === undefined) return policy.spec.podSelector.matchLabels === undefined ? [...meshParts] : [];
  return meshParts.filter((part) => part === name);
}

/** "<from>-><to>:<port>" for a rule's peer and port; backing services and "anyone" by port only (DNS left out). */
function edgeTo(from: string, peer: PeerSelector | undefined, port: number): string | undefined {
  if (port === 53) return undefined;
  const name = peer?.podSelector?.matchLabels?.[nameLabel];
  if (name !== undefined && (meshParts as readonly string[]).includes(name)) return `${from}->${name}:${port}`;
  // Anyone, or a pod that is not part of the mesh: a mesh port here would be an edge no config declares.
  return meshPorts.has(port) ? `${from}->*:${port}` : `${from}->backing:${port}`;
}

function meshPolicies(objects: KubernetesObject[]): NetworkPolicy[] {
  return ofKind<NetworkPolicy>(objects, "NetworkPolicy").filter((policy) => policy.metadata.namespace === "mel");
}

function allowedEgress(objects: KubernetesObject[]): Set<string> {
  const edges = new Set<string>();
  for (const policy of meshPolicies(objects)) {
    for (const part of partsSelectedBy(policy)) {
      for (const rule of policy.spec.egress ?? []) {
        for (const { port } of rule.ports ?? []) {
          for (const peer of rule.to ?? [undefined]) {
            const edge = edgeTo(part, peer, port);
            if (edge !== undefined) edges.add(edge);
          }
        }
      }
    }
  }
  return edges;
}

/** "<caller>-><part>:<port>" for every caller a mesh service admits ("*" for anyone). */
function allowedIngress(objects: KubernetesObject[], part: MeshPart): Set<string> {
  const edges = new Set<string>();
  for (const policy of meshPolicies(objects).filter((candidate) => partsSelectedBy(candidate).includes(part))) {
    for (const rule of policy.spec.ingress ?? []) {
      for (const { port } of rule.ports ?? []) {
        for (const peer of rule.from ?? [undefined]) {
          const caller = peer?.podSelector?.matchLabels?.[nameLabel] ?? "*";
          edges.add(`${caller}->${part}:${port}`);
        }
      }
    }
  }
  return edges;
}

/**
 * kustomize folds long base64 values of generated Secrets over several
 * lines; the API server's base64 decoder skips line breaks, the schema's
 * "byte" format does not, so they are joined before validating.
 */
function asTheApiServerReadsIt(object: KubernetesObject): KubernetesObject {
  if (object.kind !== "Secret" || typeof object.data !== "object" || object.data === null) return object;
  const data = Object.fromEntries(Object.entries(object.data as Record<string, string>).map(([key, value]) => [key, value.replace(/\s+/g, "")]));
  return { ...object, data };
}

function durationSeconds(text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs / 1000;
  const match = /^(\d+)(ms|s|m)?$/.exec(text);
  assert.ok(match, `cannot read the duration "${text}"`);
  const amount = Number(match[1]);
  return match[2] === "m" ? amount * 60 : match[2] === "ms" || match[2] === undefined ? amount / 1000 : amount;
}

describe("the deployment manifests", () => {
  for (const overlay of overlays) {
    describe(`overlays/${overlay}`, () => {
      test("renders a Deployment for every part of the mesh", () => {
        const names = ofKind(rendered[overlay], "Deployment").map((object) => object.metadata.name);
        for (const part of meshParts) assert.ok(names.includes(part), `missing Deployment ${part}; rendered: ${names.join(", ")}`);
      });

      test("every rendered object validates against its Kubernetes OpenAPI schema", () => {
        for (const object of rendered[overlay]) {
          const Model = models.get(`${object.apiVersion}/${object.kind}`);
          assert.ok(Model, `no schema for ${object.apiVersion} ${object.kind} (${object.metadata.name})`);
          assert.doesNotThrow(() => new Model(asTheApiServerReadsIt(object)).validate(), `${object.kind} ${object.metadata.name}`);
        }
      });

      test("each part runs exactly what npm start runs for it", () => {
        for (const part of meshParts) {
          assert.deepEqual(containerOf(rendered[overlay], part).command, ["node", ...nodeArgumentsFor(part)], `${part} (${entryPointOf(part)})`);
        }
      });

      test("each part's configuration loads from what its container is given", () => {
        for (const part of meshParts) {
          assert.doesNotThrow(() => loaders[part](environmentOf(rendered[overlay], part, stubSecret)), part);
        }
      });

      test("each container has startup, liveness and readiness probes; the services' are native gRPC health checks", () => {
        for (const part of meshParts) {
          const container = containerOf(rendered[overlay], part);
          for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
            assert.ok(probe?.grpc ?? probe?.httpGet, `${part}: every probe is set`);
            if (part !== "gateway") assert.ok(probe?.grpc, `${part}: gRPC probe`);
          }
          if (part !== "gateway") {
            const env = environmentOf(rendered[overlay], part, stubSecret);
            assert.equal(String(container.readinessProbe?.grpc?.port), env.MEL_GRPC_HEALTH_PORT, `${part}: probes hit the plaintext health port`);
          }
        }
      });

      test("each container has CPU and memory requests and limits", () => {
        for (const part of meshParts) {
          const { resources } = containerOf(rendered[overlay], part);
          for (const kind of ["requests", "limits"] as const) {
            for (const resource of ["cpu", "memory"]) assert.ok(resources?.[kind]?.[resource], `${part}: ${kind}.${resource}`);
          }
        }
      });

      test("each pod runs as non-root under RuntimeDefault seccomp, with a read-only root and no capabilities", () => {
        for (const part of meshParts) {
          const pod = deploymentOf(rendered[overlay], part).spec.template.spec;
          assert.equal(pod.securityContext?.runAsNonRoot, true, `${part}: pod runAsNonRoot`);
          assert.equal(pod.securityContext?.seccompProfile?.type, "RuntimeDefault", `${part}: seccomp`);
          for (const container of pod.containers) {
            const security = container.securityContext;
            assert.equal(security?.runAsNonRoot, true, `${part}/${container.name}: runAsNonRoot`);
            assert.equal(security?.readOnlyRootFilesystem, true, `${part}/${container.name}: readOnlyRootFilesystem`);
            assert.equal(security?.allowPrivilegeEscalation, false, `${part}/${container.name}: allowPrivilegeEscalation`);
            assert.deepEqual(security?.capabilities?.drop, ["ALL"], `${part}/${container.name}: drops every capability`);
            assert.equal(security?.capabilities?.add, undefined, `${part}/${container.name}: adds none`);
          }
        }
      });

      test("each pod's grace period outlasts its preStop pause plus its drain timeout", () => {
        for (const part of meshParts) {
          const pod = deploymentOf(rendered[overlay], part).spec.template.spec;
          const container = containerOf(rendered[overlay], part);
          const pause = container.lifecycle?.preStop?.sleep?.seconds;
          assert.ok(pause !== undefined && pause > 0, `${part}: a preStop pause lets endpoints drop before draining`);
          const drainVariable = `MEL_${part.toUpperCase()}_DRAIN_TIMEOUT`;
          const declared = drainVariable in envSchemas[part].shape;
          const drainSeconds = declared ? durationSeconds(environmentOf(rendered[overlay], part, stubSecret)[drainVariable], 10_000) : 0;
          const grace = pod.terminationGracePeriodSeconds ?? 30;
          assert.ok(grace > pause + drainSeconds, `${part}: terminationGracePeriodSeconds ${grace} ≤ preStop ${pause} s + drain ${drainSeconds} s`);
        }
      });

      test("each Deployment has a PodDisruptionBudget and a HorizontalPodAutoscaler", () => {
        const budgets = ofKind<KubernetesObject & { spec: { selector: { matchLabels: Record<string, string> } } }>(rendered[overlay], "PodDisruptionBudget");
        const autoscalers = ofKind<KubernetesObject & { spec: { scaleTargetRef: { kind: string; name: string } } }>(
          rendered[overlay],
          "HorizontalPodAutoscaler",
        );
        for (const deployment of ofKind<Deployment>(rendered[overlay], "Deployment")) {
          const labels = deployment.spec.template.metadata.labels;
          const budget = budgets.find((candidate) => Object.entries(candidate.spec.selector.matchLabels).every(([key, value]) => labels[key] === value));
          assert.ok(budget, `${deployment.metadata.name}: no PodDisruptionBudget selects its pods`);
          const autoscaler = autoscalers.find(
            (candidate) => candidate.spec.scaleTargetRef.kind === "Deployment" && candidate.spec.scaleTargetRef.name === deployment.metadata.name,
          );
          assert.ok(autoscaler, `${deployment.metadata.name}: no HorizontalPodAutoscaler`);
          // An apply would reset a replica count the autoscaler has set.
          assert.equal(deployment.spec.replicas, undefined, `${deployment.metadata.name}: replicas is left to the autoscaler`);
        }
      });

      test("the services' gRPC Services are headless, so clients resolve every pod and spread calls", () => {
        for (const service of services) {
          const object = ofKind<KubernetesObject & { spec: { clusterIP?: string } }>(rendered[overlay], "Service").find(
            (candidate) => candidate.metadata.name === service,
          );
          assert.equal(object?.spec.clusterIP, "None", service);
          const env = environmentOf(rendered[overlay], "gateway", stubSecret);
          assert.equal(env[`MEL_${service.toUpperCase()}_ADDRESS`], `dns:///${service}:${defaultPorts[service]}`);
        }
      });

      test("the NetworkPolicies deny by default", () => {
        const denyAll = meshPolicies(rendered[overlay]).find(
          (policy) => policy.spec.podSelector.matchLabels === undefined && policy.spec.ingress === undefined && policy.spec.egress === undefined,
        );
        assert.deepEqual(denyAll?.spec.policyTypes, ["Ingress", "Egress"]);
      });

      test("the NetworkPolicies let each part reach exactly what its configuration declares", () => {
        assert.deepEqual([...allowedEgress(rendered[overlay])].sort(), [...allDeclaredEdges].sort());
      });

      test("the NetworkPolicies let each service be reached by exactly the parts configured to call it", () => {
        for (const service of services) {
          const expected = [...allDeclaredEdges].filter((edge) => edge.endsWith(`->${service}:${defaultPorts[service]}`));
          assert.deepEqual([...allowedIngress(rendered[overlay], service)].sort(), expected.sort(), service);
        }
      });
    });
  }

  describe("overlays/local", () => {
    test("runs one replica of every part", () => {
      for (const autoscaler of ofKind<KubernetesObject & { spec: { minReplicas?: number; maxReplicas: number } }>(rendered.local, "HorizontalPodAutoscaler")) {
        assert.deepEqual([autoscaler.spec.minReplicas, autoscaler.spec.maxReplicas], [1, 1], autoscaler.metadata.name);
      }
    });

    test("runs RabbitMQ, PostgreSQL and MongoDB as StatefulSets beside the mesh", () => {
      const names = ofKind(rendered.local, "StatefulSet").map((object) => object.metadata.name);
      assert.deepEqual(names.sort(), ["mongodb", "postgresql", "rabbitmq"]);
    });
  });

  describe("overlays/production", () => {
    test("runs two or more replicas of every part: its autoscaler never goes below two", () => {
      const autoscalers = ofKind<KubernetesObject & { spec: { minReplicas?: number; scaleTargetRef: { name: string } } }>(
        rendered.production,
        "HorizontalPodAutoscaler",
      );
      for (const part of meshParts) {
        const autoscaler = autoscalers.find((candidate) => candidate.spec.scaleTargetRef.name === part);
        assert.ok((autoscaler?.spec.minReplicas ?? 1) >= 2, part);
      }
    });

    test("turns mutual TLS on for every part, with its own certificate mounted where the variables point", () => {
      for (const part of meshParts) {
        const env = environmentOf(rendered.production, part, stubSecret);
        const pod = deploymentOf(rendered.production, part).spec.template.spec;
        const tlsVolume = pod.volumes?.find((volume) => volume.secret?.secretName === `${part}-tls`);
        assert.ok(tlsVolume, `${part}: its certificate Secret is mounted`);
        const mount = containerOf(rendered.production, part).volumeMounts?.find((candidate) => candidate.name === tlsVolume.name);
        assert.ok(mount, `${part}: the certificate volume is mounted in the container`);
        for (const variable of ["MEL_GRPC_TLS_CERT", "MEL_GRPC_TLS_KEY", "MEL_GRPC_TLS_CA"]) {
          assert.ok(env[variable]?.startsWith(`${mount.mountPath}/`), `${part}: ${variable}=${env[variable]}`);
        }
        const certificate = ofKind<KubernetesObject & { spec: { secretName: string; dnsNames: string[] } }>(rendered.production, "Certificate").find(
          (candidate) => candidate.spec.secretName === `${part}-tls`,
        );
        assert.ok(certificate?.spec.dnsNames.includes(part), `${part}: its certificate names it`);
      }
    });

    test("each service admits, by certificate, exactly the parts configured to call it", () => {
      for (const service of services) {
        const env = environmentOf(rendered.production, service, stubSecret);
        const admitted = (env.MEL_GRPC_TLS_ALLOWED_CLIENTS ?? "").split(",").filter((name) => name !== "");
        const callers = [...allDeclaredEdges].filter((edge) => edge.endsWith(`->${service}:${defaultPorts[service]}`)).map((edge) => edge.split("->")[0]);
        assert.deepEqual(admitted.sort(), callers.sort(), service);
      }
    });

    test("uses quorum queues for every part that consumes events", () => {
      for (const part of meshParts) {
        const variable = `MEL_${part.toUpperCase()}_QUORUM_QUEUES`;
        if (!(variable in envSchemas[part].shape)) continue;
        assert.equal(environmentOf(rendered.production, part, stubSecret)[variable], "true", part);
      }
    });

    test("ships the logs with a Fluent Bit DaemonSet to Elasticsearch", () => {
      const daemonSet = ofKind(rendered.production, "DaemonSet").find((object) => object.metadata.name === "fluent-bit");
      assert.ok(daemonSet, "a fluent-bit DaemonSet");
      const config = ofKind<KubernetesObject & { data: Record<string, string> }>(rendered.production, "ConfigMap").find((object) =>
        object.metadata.name.startsWith("fluent-bit"),
      );
      assert.match(config?.data["fluent-bit.conf"] ?? "", /Name\s+es\b/);
      assert.match(config?.data["fluent-bit.conf"] ?? "", /Merge_Log\s+On/);
    });
  });
});
