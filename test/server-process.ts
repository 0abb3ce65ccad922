/**
 * A real server process (a data dir's, for the durability tests; any argv for the others): spawned through the CLI,
 * its port read from the "HTTP on" line on stderr, and its stderr kept so that a test can
 * wait for a line instead of sleeping.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const CLI = join(ROOT, "bin/newsrec.mjs");

export interface ServerProcess {
  proc: ChildProcess;
  url: string;
  log(): string;
  exited: Promise<number | null>;
  /** Resolves once stderr has a line matching `re` (rejects if the process exits first). */
  waitFor(re: RegExp): Promise<RegExpExecArray>;
  kill9(): Promise<void>;
}

function serveArgs(dataDir: string, extra: string[]): string[] {
  return [CLI, "serve", "--port", "0", "--grpc-port", "0", "--data-dir", dataDir, "--compact-interval-seconds", "0", ...extra];
}

/** `wrap` runs the server under another command (["prlimit", "--fsize=N", "--"]). */
export function startServer(dataDir: string, extra: string[] = [], wrap: string[] = []): Promise<ServerProcess> {
  return spawnServer([...wrap, process.execPath, ...serveArgs(dataDir, extra)]);
}

/** Any server command line (argv[0] is the program); resolves once it names its HTTP address. */
export function spawnServer(argv: string[]): Promise<ServerProcess> {
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  const watchers: { re: RegExp; done: (m: RegExpExecArray) => void; fail: (e: Error) => void }[] = [];
  const check = () => {
    for (const w of [...watchers]) {
      const m = w.re.exec(log);
      if (m) {
        watchers.splice(watchers.indexOf(w), 1);
        w.done(m);
      }
    }
  };
  proc.stderr!.on("data", (b: Buffer) => {
    log += b.toString();
    check();
  });
  void exited.then((code) => {
    for (const w of watchers.splice(0))
      w.fail(Object.assign(new Error(`server exited ${code} before /${w.re.source}/: ${log}`), { exitCode: code, stderr: log }));
  });
  const waitFor = (re: RegExp) =>
    new Promise<RegExpExecArray>((done, fail) => {
      watchers.push({ re, done, fail });
      check();
    });
  const kill9 = async () => {
    proc.kill("SIGKILL");
    await exited;
  };
  return waitFor(/HTTP on (http:\/\/\S+?);/).then((m) => ({ proc, url: m[1]!, log: () => log, exited, waitFor, kill9 }));
}

/** A start that is expected to fail: its exit code and stderr (a server that starts is killed, status "started"). */
export async function serveOnce(dataDir: string, extra: string[] = []): Promise<{ status: number | null | "started"; stderr: string }> {
  try {
    const s = await startServer(dataDir, extra);
    await s.kill9();
    return { status: "started", stderr: s.log() };
  } catch (err) {
    const e = err as Error & { exitCode?: number | null; stderr?: string };
    return { status: e.exitCode ?? null, stderr: e.stderr ?? String(err) };
  }
}

export function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export async function putNews(url: string, items: { id: string; title: string; category?: string }[]): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/news`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ items }) });
  return { status: res.status, body: await res.json() };
}

export async function status(url: string): Promise<number> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.status;
}
