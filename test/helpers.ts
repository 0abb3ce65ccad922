import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { createApp, type App } from "../src/app.ts";
import { buildConfig, type Config } from "../src/config.ts";
import { buildHttpServer } from "../src/http/server.ts";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const DEFAULT_BUNDLE = fileURLToPath(new URL("../models/default", import.meta.url));
export const SIAMESE_BUNDLE = fileURLToPath(new URL("../models/fixtures/siamese-tiny", import.meta.url));
export const SHARED_DATA = fileURLToPath(new URL("../../shared/data", import.meta.url));
export const MIND_SAMPLE = `${SHARED_DATA}/mind-sample`;
export const hasShared = existsSync(`${MIND_SAMPLE}/news.tsv`);
export const SHARED_SKIP = hasShared ? false : "../shared/data/mind-sample is absent (a plain clone has no ../shared)";
export const PYTHON = process.env.NEWSREC_PYTHON ?? "/usr/bin/python3";

export interface Running {
  app: App;
  http: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

/** The real server on a free port. */
export async function startServer(overrides: Partial<Config> = {}): Promise<Running> {
  const config = buildConfig({ port: 0, grpcPort: 0, demoNews: 3000, logLevel: "silent", ...overrides });
  const app = await createApp(config, () => {});
  const http = buildHttpServer(app);
  const url = await http.listen({ host: "127.0.0.1", port: 0 });
  return {
    app,
    http,
    url,
    close: async () => {
      await http.close();
      await app.close();
    },
  };
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });
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
