/**
 * Both transports over one app, and the lifecycle: ready once the model and catalog are
 * loaded; on stop, not ready at once (readiness probes and gRPC health turn away new
 * traffic), in-flight requests finish within the grace period, then the catalog is
 * compacted and the encoders shut down.
 */
import type { ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import { createApp, type App } from "./app.ts";
import type { Config } from "./config.ts";
import { startGrpcServer, type GrpcServer } from "./grpc/server.ts";
import { buildHttpServer } from "./http/server.ts";
import { whenResponseEnds } from "./http/response-end.ts";

export interface Running {
  app: App;
  http: FastifyInstance;
  grpc: GrpcServer;
  url: string;
  grpcAddress: string;
  stop(): Promise<void>;
}

export async function runServer(config: Config, log: (line: string) => void): Promise<Running> {
  const app = await createApp(config, log);
  const http = buildHttpServer(app, { logger: config.logLevel === "debug" });
  let grpc: GrpcServer;
  let url: string;
  try {
    url = await http.listen({ host: config.host, port: config.port });
    grpc = await startGrpcServer(app, config.host, config.grpcPort);
  } catch (err) {
    await http.close();
    await app.close();
    throw err;
  }
  const grpcAddress = `${config.host.includes(":") ? `[${config.host}]` : config.host}:${grpc.port}`;
  // gRPC health is pushed, not asked: follow the readiness report (a dead encoder, a full
  // disk, a wedged admission) as it changes.
  let serving = app.health().ready;
  const follow = setInterval(() => {
    const now = app.health().ready;
    if (now !== serving) grpc.setServing((serving = now));
  }, 1000);
  follow.unref();
  // A keep-alive connection outlives its request (fastify keeps one open for 72 s), and
  // http.close() waits for every connection: the responses still to be sent when a drain
  // starts say Connection: close, so their connections end with them, not with the grace period.
  const unanswered = new Set<ServerResponse>();
  http.server.on("request", (_req, res: ServerResponse) => {
    unanswered.add(res);
    whenResponseEnds(res, () => unanswered.delete(res));
  });
  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      app.ready = false;
      for (const res of unanswered) if (!res.headersSent) res.shouldKeepAlive = false;
      clearInterval(follow);
      grpc.setServing(false);
      const graceMs = config.shutdownGraceSeconds * 1000;
      const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), graceMs).unref());
      const drained = Promise.all([http.close(), grpc.close(graceMs)]);
      if ((await Promise.race([drained, timeout])) === "timeout") log(`grace period of ${config.shutdownGraceSeconds} s over; closing with requests in flight`);
      await app.close();
    })());
  return { app, http, grpc, url, grpcAddress, stop };
}
