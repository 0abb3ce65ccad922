import type { Command } from "commander";
import { buildConfig, configKeys, ConfigSchema, describeKey, fromEnv, fromFile, parseValue } from "../config.ts";
import { runServer } from "../server.ts";

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function serveCommand(program: Command): void {
  const cmd = program.command("serve").description("serve /rank over HTTP (and gRPC) on a model bundle").option("--config <file>", "JSON configuration file");
  for (const k of configKeys()) {
    const boolean = (ConfigSchema.properties[k] as { type?: string }).type === "boolean";
    cmd.option(boolean ? `--${kebab(k)}` : `--${kebab(k)} <value>`, describeKey(k));
  }
  cmd.action(async (raw: Record<string, string | boolean>) => {
    const flags: Record<string, unknown> = {};
    for (const k of configKeys()) {
      const v = raw[k];
      if (v !== undefined) flags[k] = typeof v === "boolean" ? v : parseValue(k, v);
    }
    // A snapshot replaces the demo catalog unless demo news are asked for explicitly.
    const implied = flags.snapshot !== undefined && flags.demoNews === undefined ? { demoNews: 0 } : {};
    const config = buildConfig(typeof raw.config === "string" ? fromFile(raw.config) : {}, fromEnv(process.env), implied, flags);
    const log = (line: string) => config.logLevel !== "silent" && process.stderr.write(`newsrec: ${line}\n`);
    if (flags.adminToken !== undefined)
      log("warning: --admin-token is visible to every user of this machine (ps); prefer --admin-token-file or NEWSREC_ADMIN_TOKEN");
    const t0 = performance.now();
    const server = await runServer(config, log);
    log(`HTTP on ${server.url}; gRPC on ${server.grpcAddress}; ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const stop = (signal: string) => {
      log(`${signal}: draining`);
      server.stop().then(
        () => {
          log("stopped");
          process.exit(0);
        },
        (err) => {
          log(`shutdown failed: ${(err as Error).message}`);
          process.exit(1);
        },
      );
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  });
}
