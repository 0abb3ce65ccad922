/**
 * A real NATS JetStream cluster of Debian's nats-server on loopback ports, for the replication
 * tests and benchmark: one process per node, each with its own store dir, routes to every
 * other node. Ready once every node has logged the JetStream metadata leader (the cluster
 * then has quorum). Nodes can be killed with SIGKILL and started again on their own ports and
 * store dirs.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** nats-server on PATH (or NATS_SERVER), or null. */
export function natsServerBinary(): string | null {
  const bin = process.env.NATS_SERVER ?? "nats-server";
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  return r.status === 0 ? bin : null;
}

export const NATS_SKIP = natsServerBinary() ? false : "nats-server is not installed (apt-get install nats-server; .ci/run installs it)";

/** A port free now on 127.0.0.1 (closed again before it is handed out). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Node {
  name: string;
  port: number;
  clusterPort: number;
  storeDir: string;
  proc: ChildProcess | null;
  log: string;
}

export interface NatsCluster {
  /** nats://127.0.0.1:PORT of every node, comma-separated (the --catalog-log value). */
  urls: string;
  nodes: readonly { name: string; port: number }[];
  kill9(i: number): Promise<void>;
  /** Starts a killed node again with its store dir; resolves once it has rejoined (sees a metadata leader). */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

const LEADER = /JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/;

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const bin = natsServerBinary();
  if (!bin) throw new Error("nats-server is not installed");
  const root = mkdtempSync(join(tmpdir(), "nats-issue15-"));
  const nodes: Node[] = [];
  for (let i = 0; i < size; i++)
    nodes.push({ name: `n${i + 1}`, port: await freePort(), clusterPort: await freePort(), storeDir: join(root, `n${i + 1}`), proc: null, log: "" });
  const routes = nodes.map((n) => `nats://127.0.0.1:${n.clusterPort}`).join(",");

  const launch = (n: Node): Promise<void> => {
    mkdirSync(n.storeDir, { recursive: true });
    n.log = "";
    const proc = spawn(
      bin,
      [
        "-js",
        "-sd",
        n.storeDir,
        "-n",
        n.name,
        "-a",
        "127.0.0.1",
        "-p",
        String(n.port),
        "--cluster_name",
        "newsrec-test",
        "--cluster",
        `nats://127.0.0.1:${n.clusterPort}`,
        "--routes",
        routes,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    n.proc = proc;
    return new Promise((resolve, reject) => {
      proc.stderr!.on("data", (b: Buffer) => {
        n.log += b.toString();
        if (LEADER.test(n.log)) resolve();
      });
      proc.once("exit", (code) => reject(new Error(`nats-server ${n.name} exited ${code}: ${n.log}`)));
    });
  };
  const kill9 = async (i: number) => {
    const p = nodes[i]!.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await gone;
    nodes[i]!.proc = null;
  };
  try {
    await Promise.all(nodes.map(launch));
  } catch (err) {
    for (let i = 0; i < nodes.length; i++) await kill9(i);
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  return {
    urls: nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(","),
    nodes: nodes.map(({ name, port }) => ({ name, port })),
    kill9,
    restart: (i) => launch(nodes[i]!),
    stop: async () => {
      for (let i = 0; i < nodes.length; i++) await kill9(i);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
