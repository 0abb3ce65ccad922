/**
 * The chaos benchmark's server: `newsrec serve` as usual (configuration from CHAOS_CONFIG, a
 * JSON object), plus one handle the benchmark needs from outside the process: SIGUSR2 ends one
 * encoder worker thread, the way a native crash inside onnxruntime would.
 */
import { buildConfig } from "../src/config.ts";
import { runServer } from "../src/server.ts";

const config = buildConfig(JSON.parse(process.env.CHAOS_CONFIG ?? "{}"));
const log = (line: string) => process.stderr.write(`newsrec: ${line}\n`);
const server = await runServer(config, log);
log(`HTTP on ${server.url}; gRPC on ${server.grpcAddress}; ready`);
process.on("SIGUSR2", () => {
  const [thread] = server.app.encoders.workerThreadIds;
  if (thread !== undefined) void server.app.encoders.terminateWorker(thread);
});
process.on("SIGTERM", () => void server.stop().then(() => process.exit(0)));
