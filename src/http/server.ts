/** The HTTP transport: routes over the rank service and the catalog writer. */
import Fastify, { type FastifyInstance } from "fastify";
import type { App } from "../app.ts";
import { NewsrecError, notFound, overloaded } from "../errors.ts";
import type { RankRequest } from "../rank/types.ts";
import { newsParams, rankBody, upsertBody } from "./schemas.ts";
import { sendError } from "./errors.ts";
import type { NewsMeta } from "../catalog/store.ts";
import { decode, encode, messageType } from "../wire/proto.ts";

const PROTOBUF = "application/x-protobuf";

export function buildHttpServer(app: App, opts: { logger?: boolean } = {}): FastifyInstance {
  const { config, metrics } = app;
  const f = Fastify({
    logger: opts.logger ? { level: config.logLevel === "silent" ? "silent" : config.logLevel } : false,
    bodyLimit: config.bodyLimitBytes,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    return503OnClosing: true,
  });
  // JSON only: without this, fastify would parse text/plain and answer 400 instead of 415.
  f.removeContentTypeParser("text/plain");
  // application/x-protobuf bodies carry the gRPC messages; once decoded they are validated
  // by the same schemas as JSON.
  f.addContentTypeParser(PROTOBUF, { parseAs: "buffer" }, (req, body, done) => {
    try {
      const rank = req.url.split("?")[0] === "/rank";
      const decoded = decode(messageType(rank ? "RankRequest" : "UpsertNewsRequest"), body as Buffer);
      // proto3 sends an empty list as nothing at all.
      done(null, rank ? { history: [], ...decoded } : { items: [], ...decoded });
    } catch (err) {
      done(new NewsrecError("INVALID_ARGUMENT", `body: ${(err as Error).message}`, { field: "body" }), undefined);
    }
  });
  f.setErrorHandler(sendError);
  f.setNotFoundHandler((req, reply) => sendError(notFound(`route ${req.method} ${req.url}`) as never, req, reply));

  // Admission control: past maxInFlight requests in progress (on both transports), refuse at
  // once rather than queue without bound. Probes and metrics are always answered.
  f.addHook("onRequest", async (req) => {
    if (req.url.startsWith("/rank") || req.url.startsWith("/news")) {
      if (!app.admission.tryEnter()) {
        metrics.rejected.inc({ reason: "in_flight" });
        throw overloaded("the server");
      }
      (req as { admitted?: boolean }).admitted = true;
    }
  });
  const release = (req: object) => {
    const r = req as { admitted?: boolean };
    if (r.admitted) {
      r.admitted = false;
      app.admission.leave();
    }
  };
  f.addHook("onRequestAbort", async (req) => release(req));
  f.addHook("onResponse", async (req, reply) => {
    release(req);
    const method = req.routeOptions.url ? `${req.method} ${req.routeOptions.url}` : "unmatched";
    const labels = { transport: "http", method, status: String(reply.statusCode) };
    metrics.requests.inc(labels);
    metrics.requestSeconds.observe(labels, reply.elapsedTime / 1000);
  });

  const requireReady = () => {
    if (!app.ready) throw new NewsrecError("NOT_READY", "the server is not ready");
  };
  const requireAdmin = (auth: string | undefined) => {
    if (config.adminToken && auth !== `Bearer ${config.adminToken}`) throw new NewsrecError("UNAUTHENTICATED", "writes need Authorization: Bearer <admin token>");
  };

  f.get("/healthz", async () => ({ status: "ok" }));
  f.get("/readyz", async (_req, reply) => {
    const body = { ready: app.ready, model: app.rank.model, provider: app.encoders.provider, catalogItems: app.catalog.size };
    return reply.status(app.ready ? 200 : 503).send(body);
  });
  f.get("/metrics", async (_req, reply) => {
    reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  f.post("/rank", { schema: { body: rankBody(config) } }, async (req, reply) => {
    requireReady();
    const res = await app.rank.rank(req.body as RankRequest, performance.now() + config.requestTimeoutMs);
    const stop = metrics.stage("serialization");
    const wantsProto = `${req.headers.accept ?? ""} ${req.headers["content-type"] ?? ""}`.includes(PROTOBUF);
    const out = wantsProto ? Buffer.from(encode(messageType("RankResponse"), res)) : JSON.stringify(res);
    stop();
    return reply.type(wantsProto ? PROTOBUF : "application/json; charset=utf-8").send(out);
  });

  f.put("/news", { schema: { body: upsertBody } }, async (req) => {
    requireAdmin(req.headers.authorization);
    requireReady();
    const { items } = req.body as { items: NewsMeta[] };
    const ids = new Set<string>();
    items.forEach((n, i) => {
      if (ids.has(n.id)) throw new NewsrecError("INVALID_ARGUMENT", `items/${i}/id: duplicate id ${n.id} in one batch`, { field: `items/${i}/id` });
      ids.add(n.id);
    });
    return { upserted: await app.writer.upsert(items) };
  });

  f.get("/news/:id", { schema: { params: newsParams } }, async (req) => {
    const { id } = req.params as { id: string };
    const meta = app.catalog.get(id);
    if (!meta) throw notFound(`news ${id}`);
    return meta;
  });

  f.delete("/news/:id", { schema: { params: newsParams } }, async (req) => {
    requireAdmin(req.headers.authorization);
    const { id } = req.params as { id: string };
    if (!(await app.writer.delete(id))) throw notFound(`news ${id}`);
    return { deleted: id };
  });

  return f;
}
