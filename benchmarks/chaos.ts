/**
 * Chaos: CHAOS_SECONDS (600) of mixed traffic (cache-hit and cache-miss ranks, upserts,
 * deletes) against a server with a data dir, while a fault is injected every CHAOS_EVERY (5) s,
 * in turn: a burst of abandoned requests, slow clients holding connections, an encoder worker
 * killed, the server killed -9 and restarted, the data disk full for a few seconds (a 64 MiB
 * tmpfs; skipped where it cannot be mounted). It reports acknowledged writes lost (must be 0),
 * answers by class, the longest time from a fault to full service, and the server's memory.
 *
 * Every acknowledged write is checked at the end: each client owns its ids, so the last
 * acknowledged write of an id says what GET /news/:id must answer. A write whose answer never
 * came (the server died under it) is uncertain and left out until a later write settles it.
 * Bounded: fixed duration, loopback only. Run: node --import tsx benchmarks/chaos.ts
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { env, prng, ROOT, rssMiB, startChild, type Child } from "./lib.ts";

const SECONDS = env("CHAOS_SECONDS", 600);
const EVERY = env("CHAOS_EVERY", 5);
const CLIENTS = env("CHAOS_CLIENTS", 8);
const NEWS = env("CHAOS_NEWS", 3000);
const rand = prng(11);
const json = { "content-type": "application/json" };

const base = mkdtempSync(join(tmpdir(), "newsrec-chaos-"));
const dataDir = join(base, "data");
mkdirSync(dataDir);
const tmpfs = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", dataDir]).status === 0;
if (!tmpfs) console.error("chaos: cannot mount a tmpfs here; the full-disk fault is skipped");

const config = {
  host: "127.0.0.1",
  port: 0,
  grpcPort: 0,
  dataDir,
  demoNews: NEWS,
  compactIntervalSeconds: 20,
  logLevel: "warn",
  bodyTimeoutMs: 2000,
  headersTimeoutMs: 2000,
  maxWaitMs: 2,
};
let url = "";
let server: Child = await start();

async function start(): Promise<Child> {
  const c = await startChild([], { script: `${ROOT}/benchmarks/chaos-server.ts`, env: { CHAOS_CONFIG: JSON.stringify(config) } });
  url = c.url;
  // A restarted server comes back on the same ports, as a pod behind its Service would.
  config.port = Number(new URL(c.url).port);
  config.grpcPort = Number(c.grpcAddress!.split(":").pop());
  return c;
}

/** Restarts the server after a kill, retrying until it starts. */
async function restart(): Promise<void> {
  for (;;) {
    try {
      server = await start();
      return;
    } catch (err) {
      console.error(`chaos: restart failed: ${(err as Error).message.split("\n").slice(0, 3).join(" ")}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

// --- traffic -----------------------------------------------------------------------------
const classes = new Map<string, number>();
const count = (c: string) => classes.set(c, (classes.get(c) ?? 0) + 1);
type Truth = { present: boolean; title: string } | "uncertain";
const truth: Map<string, Truth>[] = Array.from({ length: CLIENTS }, () => new Map());
const demoId = () => `N${1 + Math.floor(rand() * NEWS)}`;
const warmHistories = Array.from({ length: 200 }, () => Array.from({ length: 20 }, demoId));
let running = true;

async function request(method: string, path: string, body?: unknown): Promise<number> {
  try {
    const r = await fetch(`${url}${path}`, {
      method,
      ...(body === undefined ? {} : { headers: json, body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await r.text();
    const code = r.status === 200 ? "" : ` ${(JSON.parse(text) as { error?: { code?: string } }).error?.code ?? "?"}`;
    count(`${method} ${path.startsWith("/news/") ? "/news/:id" : path} ${r.status}${code}`);
    return r.status;
  } catch {
    count(`${method} ${path.startsWith("/news/") ? "/news/:id" : path}: no answer (server down, connection lost or timed out)`);
    // The server is down (killed, restarting): try again shortly rather than spin.
    await new Promise((r) => setTimeout(r, 50));
    return 0;
  }
}

/**
 * 200: the write happened. 4xx and 503 (refused: overloaded, not ready, disk full): it did not,
 * so what was known still holds. No answer, or any other 5xx: nobody knows.
 */
function settle(c: number, id: string, status: number, after: Truth): void {
  if (status === 200) truth[c]!.set(id, after);
  else if (status === 0 || (status >= 500 && status !== 503)) truth[c]!.set(id, "uncertain");
}

async function client(c: number): Promise<void> {
  let n = 0;
  while (running) {
    const x = rand();
    if (x < 0.55)
      await request("POST", "/rank", { userId: `hot${c}-${Math.floor(rand() * 25)}`, history: warmHistories[Math.floor(rand() * warmHistories.length)] });
    else if (x < 0.75) await request("POST", "/rank", { userId: `cold-${Math.floor(rand() * 1e12)}`, history: Array.from({ length: 30 }, demoId) });
    else if (x < 0.9) {
      const id = `C${c}-${n++ % 400}`;
      const title = `Chaos item ${id} version ${Math.floor(rand() * 1e9)}`;
      const status = await request("PUT", "/news", { items: [{ id, title, category: "news", publishedAt: new Date().toISOString() }] });
      settle(c, id, status, { present: true, title });
    } else {
      const ids = [...truth[c]!.keys()];
      if (!ids.length) continue;
      const id = ids[Math.floor(rand() * ids.length)]!;
      const status = await request("DELETE", `/news/${id}`);
      // 404: absent now, whatever was known before.
      settle(c, id, status === 404 ? 200 : status, { present: false, title: "" });
    }
  }
}

// --- faults ------------------------------------------------------------------------------
function socket(): Promise<import("node:net").Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => resolve(s));
    s.on("error", reject);
  });
}

const faults: Record<string, () => Promise<void>> = {
  "abandoned requests": async () => {
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const body = JSON.stringify({ userId: `gone-${Math.floor(rand() * 1e12)}`, history: Array.from({ length: 30 }, demoId) });
        const s = await socket().catch(() => null);
        if (!s) return;
        s.on("error", () => {});
        s.write(
          `POST /rank HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`.slice(0, i % 2 ? undefined : 60),
        );
        s.destroy();
      }),
    );
  },
  "slow clients": async () => {
    const held = (await Promise.all(Array.from({ length: 100 }, () => socket().catch(() => null)))).filter((s) => s !== null);
    for (const s of held) {
      s.on("error", () => {});
      s.write("POST /rank HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{");
    }
    await new Promise((r) => setTimeout(r, 3000));
    for (const s of held) s.destroy();
  },
  "encoder worker killed": async () => {
    server.proc.kill("SIGUSR2");
  },
  "server killed -9 and restarted": async () => {
    const exited = new Promise((r) => server.proc.once("exit", r));
    server.proc.kill("SIGKILL");
    await exited;
    // The restart is part of the recovery, timed below.
  },
  "data disk full": async () => {
    if (!tmpfs) return;
    const filler = join(dataDir, "filler");
    try {
      writeFileSync(filler, Buffer.alloc(80 << 20));
    } catch {
      // ENOSPC: the disk is now full, which is the point.
    }
    await new Promise((r) => setTimeout(r, 4000));
    rmSync(filler, { force: true });
  },
};

/** Time until a rank and a write both succeed again (after a restart, when the server is down). */
async function recovery(): Promise<number> {
  const t0 = performance.now();
  if (server.proc.exitCode !== null || server.proc.signalCode !== null) await restart();
  for (;;) {
    const rank = await request("POST", "/rank", { userId: "probe", history: [demoId()] });
    const write = rank === 200 ? await request("PUT", "/news", { items: [{ id: "probe", title: "Recovery probe" }] }) : 0;
    if (rank === 200 && write === 200) return (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const rss: number[] = [];
const recoveries = new Map<string, number[]>();
const t0 = Date.now();
const traffic = Array.from({ length: CLIENTS }, (_, c) => client(c));
const names = Object.keys(faults);
let i = 0;
while (Date.now() - t0 < SECONDS * 1000) {
  await new Promise((r) => setTimeout(r, EVERY * 1000));
  const name = names[i++ % names.length]!;
  await faults[name]!();
  const took = await recovery();
  recoveries.set(name, [...(recoveries.get(name) ?? []), took]);
  try {
    rss.push(rssMiB(server.proc.pid!));
  } catch {
    // The process is between a kill and its restart.
  }
}
running = false;
await Promise.all(traffic);

// --- verification ------------------------------------------------------------------------
let checked = 0;
let lost = 0;
let resurrected = 0;
let uncertain = 0;
for (const t of truth) {
  for (const [id, want] of t) {
    if (want === "uncertain") {
      uncertain++;
      continue;
    }
    checked++;
    const r = await fetch(`${url}/news/${id}`);
    const body = (await r.json()) as { title?: string };
    if (want.present && (r.status !== 200 || body.title !== want.title)) lost++;
    if (!want.present && r.status !== 404) resurrected++;
  }
}
await server.stop();
if (tmpfs) spawnSync("umount", [dataDir]);
rmSync(base, { recursive: true, force: true });

console.log(`chaos: ${SECONDS} s, a fault every ${EVERY} s, ${CLIENTS} clients, ${NEWS} demo news${tmpfs ? "" : " (no full-disk fault: tmpfs unavailable)"}`);
console.log(`\nacknowledged writes checked: ${checked}; lost: ${lost}; deletes undone: ${resurrected}; uncertain (no answer, left out): ${uncertain}`);
console.log("\n| request and answer | count |\n| --- | ---: |");
for (const [c, n] of [...classes].sort()) console.log(`| ${c} | ${n} |`);
console.log("\n| fault | times | longest time to full service (s) |\n| --- | ---: | ---: |");
for (const [name, ts] of recoveries) console.log(`| ${name} | ${ts.length} | ${Math.max(...ts).toFixed(2)} |`);
console.log(`\nserver RSS: first ${rss[0]?.toFixed(0)} MiB, max ${Math.max(...rss).toFixed(0)} MiB, last ${rss[rss.length - 1]?.toFixed(0)} MiB`);
process.exit(lost || resurrected ? 1 : 0);
