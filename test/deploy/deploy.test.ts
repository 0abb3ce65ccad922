/**
 * Deployment files stay valid: Kubernetes manifests against the Kubernetes schemas
 * (kubernetes-models), the ConfigMap's server configuration against the server's own schema,
 * Prometheus config and alert rules with promtool, the Grafana dashboard's shape, and the
 * images' entry command is the one the tests run.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ConfigMap, PersistentVolumeClaim, Service } from "kubernetes-models/v1";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { CronJob, Job } from "kubernetes-models/batch/v1";
import { buildConfig } from "../../src/config.ts";
import { ROOT } from "../helpers.ts";

const K8S = join(ROOT, "deploy/k8s");
const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Service": Service,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "batch/v1/Job": Job,
  "batch/v1/CronJob": CronJob,
};

function docs(path: string): any[] {
  return parseAllDocuments(readFileSync(path, "utf8")).map((d) => {
    assert.equal(d.errors.length, 0, `${path}: ${d.errors.join("; ")}`);
    return d.toJS();
  });
}

function mergeByName(base: any, patch: any): any {
  if (Array.isArray(base) && Array.isArray(patch)) {
    const out = base.map((b) => ({ ...b }));
    for (const p of patch) {
      const i = out.findIndex((b) => b?.name !== undefined && b.name === p?.name);
      if (i >= 0) out[i] = mergeByName(out[i], p);
      else out.push(p);
    }
    return out;
  }
  if (base && patch && typeof base === "object" && typeof patch === "object") {
    const out = { ...base };
    for (const [k, v] of Object.entries(patch)) out[k] = k in base ? mergeByName(base[k], v) : v;
    return out;
  }
  return patch;
}

test("every base manifest validates against the Kubernetes schemas, and the kustomization lists them all", () => {
  const kust = docs(join(K8S, "base/kustomization.yaml"))[0];
  const files = readdirSync(join(K8S, "base"))
    .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    .sort();
  assert.deepEqual([...kust.resources].sort(), files);
  const kinds = new Set<string>();
  for (const f of files) {
    for (const d of docs(join(K8S, "base", f))) {
      const Model = MODELS[`${d.apiVersion}/${d.kind}`];
      assert.ok(Model, `${f}: no schema for ${d.apiVersion}/${d.kind}`);
      assert.doesNotThrow(() => new Model(d).validate(), `${f}: ${d.kind} ${d.metadata?.name}`);
      kinds.add(d.kind);
    }
  }
  for (const k of ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "Job", "CronJob"]) assert.ok(kinds.has(k), k);
});

test("the GPU overlay's patched Deployment validates and asks for a GPU and the CUDA provider", () => {
  const kust = docs(join(K8S, "overlays/gpu/kustomization.yaml"))[0];
  assert.deepEqual(kust.resources, ["../../base"]);
  const base = docs(join(K8S, "base/deployment.yaml"))[0];
  const patch = docs(join(K8S, "overlays/gpu", kust.patches[0].path))[0];
  const merged = mergeByName(base, patch);
  assert.doesNotThrow(() => new Deployment(merged).validate());
  const c = merged.spec.template.spec.containers[0];
  assert.equal(c.resources.limits["nvidia.com/gpu"], "1");
  assert.ok(c.env.some((e: any) => e.name === "NEWSREC_PROVIDERS" && e.value === "cuda,cpu"));
});

test("the ConfigMap's config.json is accepted by the server's configuration schema", () => {
  const cm = docs(join(K8S, "base/configmap.yaml"))[0];
  const config = buildConfig(JSON.parse(cm.data["config.json"]));
  const dep = docs(join(K8S, "base/deployment.yaml"))[0];
  const spec = dep.spec.template.spec;
  assert.equal(spec.enableServiceLinks, false, "service links would inject NEWSREC_* variables the server refuses");
  assert.ok(
    spec.terminationGracePeriodSeconds > config.shutdownGraceSeconds + (spec.containers[0].lifecycle?.preStop?.sleep?.seconds ?? 0),
    "the pod's grace period covers the drain",
  );
  const ports = spec.containers[0].ports.map((p: any) => p.containerPort);
  assert.deepEqual(ports, [config.port, config.grpcPort]);
});

test("the shipped deployment cannot start with open writes: the admin token is a required secret, mounted as a file", () => {
  const config = buildConfig(JSON.parse(docs(join(K8S, "base/configmap.yaml"))[0].data["config.json"]));
  assert.equal(config.host, "0.0.0.0");
  assert.equal(config.allowAnonymousWrites, false);
  assert.ok(config.adminTokenFile, "the server reads its token from a file");
  const spec = docs(join(K8S, "base/deployment.yaml"))[0].spec.template.spec;
  const volume = spec.volumes.find((v: any) => v.secret);
  assert.ok(volume, "a secret volume");
  assert.notEqual(volume.secret.optional, true, "the secret is required: no pod starts without it");
  const mount = spec.containers[0].volumeMounts.find((m: any) => m.name === volume.name);
  assert.ok(config.adminTokenFile!.startsWith(`${mount.mountPath}/`), "adminTokenFile lies in the mounted secret");
  const env = spec.containers[0].env ?? [];
  assert.ok(!env.some((e: any) => e.valueFrom?.secretKeyRef?.optional), "no optional secret in the environment");
});

const hasPromtool = spawnSync("promtool", ["--version"]).status === 0;
test("Prometheus config and alert rules pass promtool", {
  skip: hasPromtool || process.env.CI ? false : "promtool is not installed (apt-get install prometheus)",
}, () => {
  const r = spawnSync("promtool", ["check", "config", "prometheus.yml"], { cwd: join(ROOT, "deploy/prometheus"), encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS: \d+ rules found/);
  const rules = readFileSync(join(ROOT, "deploy/prometheus/alerts.yml"), "utf8");
  for (const a of ["NewsrecRankLatencyHigh", "NewsrecErrorRateHigh", "NewsrecCacheHitRatioLow", "NewsrecNotReady"]) assert.match(rules, new RegExp(a));
});

test("the Grafana dashboard has the panels an operator needs, each with a query", () => {
  const d = JSON.parse(readFileSync(join(ROOT, "deploy/grafana/newsrec-dashboard.json"), "utf8"));
  const titles = d.panels.map((p: any) => p.title).join(" | ");
  for (const t of [/Per-stage latency/, /Requests per second/, /cache hit ratio/i, /batch size/, /Catalog/, /Resident memory/]) assert.match(titles, t);
  for (const p of d.panels) assert.ok(p.targets.length && p.targets.every((t: any) => /newsrec_/.test(t.expr)), p.title);
});

test("both Dockerfiles pass dockerfilelint", () => {
  const bin = join(ROOT, "node_modules/.bin/dockerfilelint");
  const r = spawnSync(bin, [join(ROOT, "deploy/Dockerfile"), join(ROOT, "deploy/Dockerfile.cuda")], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal((r.stdout.match(/Issues: None found/g) ?? []).length, 2, r.stdout);
});

test("both images run the command the tests run, as a non-root user, with a health check", () => {
  for (const f of ["Dockerfile", "Dockerfile.cuda"]) {
    const text = readFileSync(join(ROOT, "deploy", f), "utf8");
    // The build's entry, as test/build/build.test.ts starts it; the image has neither tsx nor TypeScript.
    assert.match(text, /ENTRYPOINT \["node", "dist\/cli\/main\.js"\]\nCMD \["serve"\]/, f);
    assert.match(text, /RUN npm run build$/m, f);
    assert.match(text, /^USER (node|newsrec)$/m, f);
    assert.match(text, /^HEALTHCHECK /m, f);
    assert.match(text, /npm ci --omit=dev/, f);
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \.\/\S*$/gm))
      for (const src of m[1]!.split(" ")) assert.ok(existsSync(join(ROOT, src)), `${f}: ${src}`);
    // What the server reads at run time besides the bundle: the manifest schema every bundle is
    // checked against, and the exact-scoring graph.
    for (const asset of ["models/manifest.schema.json", "models/scoring"])
      assert.match(text, new RegExp(`^COPY ${asset} \\./${asset}$`, "m"), `${f} copies ${asset}`);
  }
  assert.match(readFileSync(join(ROOT, "deploy/Dockerfile.cuda"), "utf8"), /ONNXRUNTIME_NODE_INSTALL=cuda12/);
});
