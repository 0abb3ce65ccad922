/** Shared benchmark plumbing: servers in child processes, autocannon runs, metric scrapes. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const env = (name: string, dflt: number): number => (process.env[name] ? Number(process.env[name]) : dflt);

export interface Child {
  url: string;
  /** The server's gRPC address, when its log named one. */
  grpcAddress: string | null;
  proc: ChildProcess;
  stop(): Promise<void>;
}

const builds = new Map<string, string>();

/**
 * The compiled CLI of a checkout (`npm run build`, once per run): what the images and `npm start`
 * run, `node dist/cli/main.js`. Servers measured from the sources would carry tsx's loader in
 * every thread (about 100 MiB of an empty server's resident memory), which production does not.
 */
export function builtCli(root = ROOT): string {
  let script = builds.get(root);
  if (!script) {
    const r = spawnSync("npm", ["run", "build", "--silent"], { cwd: root, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`npm run build in ${root} failed:\n${r.stdout}${r.stderr}`);
    script = join(root, "dist/cli/main.js");
    builds.set(root, script);
  }
  return script;
}

/** Starts `newsrec serve` of this checkout's build (or another script) on a free port and waits for its address line. */
export function startChild(args: string[], opts: { script?: string; env?: Record<string, string> } = {}): Promise<Child> {
  const script = opts.script ?? builtCli();
  // BENCH_NODE_ARGS: extra node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, ...(script.endsWith(".ts") ? ["--import", "tsx"] : []), script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      log += b.toString();
      const m = /HTTP on (http:\/\/[^;\s]+)/.exec(log);
      if (m) {
        proc.stderr!.off("data", onData);
        proc.stderr!.resume();
        resolve({
          url: m[1]!,
          grpcAddress: /gRPC on (\S+?);/.exec(log)?.[1] ?? null,
          proc,
          stop: () =>
            new Promise<void>((r) => {
              proc.once("exit", () => r());
              proc.kill("SIGTERM");
            }),
        });
      }
    };
    proc.stderr!.on("data", onData);
    proc.stdout!.resume();
    proc.once("exit", (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
  });
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  requests: number;
}

export async function load(o: autocannon.Options): Promise<LoadResult> {
  const r = await autocannon({ duration: env("BENCH_SECONDS", 10), connections: 16, ...o });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx, requests: r.requests.total };
}

export async function metric(url: string, name: string, labels = ""): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name + (labels ? `{${labels}}` : "")) && !l.startsWith("#"));
  return line ? Number(line.split(" ").pop()) : NaN;
}

export function row(name: string, r: LoadResult, base?: LoadResult): string {
  const ratio = base ? `${((100 * r.rps) / base.rps).toFixed(0)}%` : "—";
  return `| ${name} | ${r.rps.toFixed(0)} | ${ratio} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors + r.non2xx} |`;
}

export const TABLE_HEAD = "| mix | req/s | vs bare | p50 ms | p99 ms | errors |\n| --- | ---: | ---: | ---: | ---: | ---: |";

/** A small deterministic PRNG, so that runs send the same requests. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Resident set size of a process, in MiB (Linux). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The q-quantile (seconds) of a Prometheus histogram between two scrapes, by linear interpolation in the bucket. */
export async function histogramQuantile(
  url: string,
  name: string,
  labels: string,
  q: number,
  before?: Map<number, number>,
): Promise<{ q: number; buckets: Map<number, number> }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const buckets = new Map<number, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}_bucket{`) || !line.includes(labels)) continue;
    const le = /le="([^"]+)"/.exec(line)![1]!;
    const v = Number(line.split(" ").pop());
    const key = le === "+Inf" ? Infinity : Number(le);
    buckets.set(key, (buckets.get(key) ?? 0) + v);
  }
  const les = [...buckets.keys()].sort((a, b) => a - b);
  const counts = les.map((le) => buckets.get(le)! - (before?.get(le) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  let prevLe = 0;
  let prevCount = 0;
  for (let i = 0; i < les.length; i++) {
    if (counts[i]! >= q * total) {
      const le = les[i]!;
      if (!Number.isFinite(le)) return { q: prevLe, buckets };
      const frac = counts[i]! === prevCount ? 0 : (q * total - prevCount) / (counts[i]! - prevCount);
      return { q: prevLe + (le - prevLe) * frac, buckets };
    }
    prevLe = les[i]!;
    prevCount = counts[i]!;
  }
  return { q: NaN, buckets };
}
