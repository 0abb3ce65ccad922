import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { buildConfig, type Config } from "../src/config.ts";
import { runServer, type Running as ServerHandle } from "../src/server.ts";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const DEFAULT_BUNDLE = fileURLToPath(new URL("../models/default", import.meta.url));
export const SIAMESE_BUNDLE = fileURLToPath(new URL("../models/fixtures/siamese-tiny", import.meta.url));
export const FUM_BUNDLE = fileURLToPath(new URL("../models/fixtures/fum-tiny", import.meta.url));
export const PUNR_BUNDLE = fileURLToPath(new URL("../models/fixtures/siamese-punr-tiny", import.meta.url));
export const SHARED_DATA = fileURLToPath(new URL("../../shared/data", import.meta.url));
export const MIND_SAMPLE = `${SHARED_DATA}/mind-sample`;
export const hasShared = existsSync(`${MIND_SAMPLE}/news.tsv`);
export const SHARED_SKIP = hasShared ? false : "../shared/data/mind-sample is absent (a plain clone has no ../shared)";
export const PYTHON = process.env.NEWSREC_PYTHON ?? "/usr/bin/python3";

export interface Running extends ServerHandle {
  close(): Promise<void>;
}

/** The real server (HTTP and gRPC) on free ports. */
export async function startServer(overrides: Partial<Config> = {}): Promise<Running> {
  const config = buildConfig({ host: "127.0.0.1", port: 0, grpcPort: 0, demoNews: 3000, logLevel: "silent", shutdownGraceSeconds: 5, ...overrides });
  const s = await runServer(config, () => {});
  return { ...s, close: () => s.stop() };
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** A response body as loosely typed JSON (tests assert its shape). */
export async function json(res: Response): Promise<any> {
  return res.json();
}
