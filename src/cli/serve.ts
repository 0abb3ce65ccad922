import type { Command } from "commander";
import { createApp } from "../app.ts";
import { buildConfig, configKeys, ConfigSchema, describeKey, fromEnv, fromFile, type Config } from "../config.ts";
import { buildHttpServer } from "../http/server.ts";

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());

function parseFlag(key: keyof Config, raw: string): unknown {
  const t = (ConfigSchema.properties[key] as { type?: string }).type;
  if (t === "integer" || t === "number") return Number(raw);
  if (t === "array") return raw.split(",").map((s) => s.trim()).filter(Boolean);
  return raw;
}

export function serveCommand(program: Command): void {
  const cmd = program.command("serve").description("serve /rank over HTTP (and gRPC) on a model bundle").option("--config <file>", "JSON configuration file");
  for (const k of configKeys()) cmd.option(`--${kebab(k)} <value>`, describeKey(k));
  cmd.action(async (raw: Record<string, string>) => {
    const flags: Record<string, unknown> = {};
    for (const k of configKeys()) if (raw[k] !== undefined) flags[k] = parseFlag(k, raw[k]);
    // A snapshot replaces the demo catalog unless demo news are asked for explicitly.
    const implied = flags.snapshot !== undefined && flags.demoNews === undefined ? { demoNews: 0 } : {};
    const config = buildConfig(raw.config ? fromFile(raw.config) : {}, fromEnv(process.env), implied, flags);
    const log = (line: string) => config.logLevel !== "silent" && process.stderr.write(`newsrec: ${line}\n`);
    const t0 = performance.now();
    const app = await createApp(config, log);
    const http = buildHttpServer(app, { logger: config.logLevel === "debug" });
    const address = await http.listen({ host: config.host, port: config.port });
    log(`HTTP on ${address}; ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log(`${signal}: draining`);
      app.ready = false;
      await http.close();
      await app.close();
      log("stopped");
      process.exit(0);
    };
    process.on("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGINT", () => void stop("SIGINT"));
  });
}
