/**
 * The HTTP transport: routes over the rank service and the catalog writer. Cross-cutting work
 * lives in hooks: the admin check runs on request, before any body byte is read; admission runs
 * once the body is in and valid, so a slow client holds a connection (bounded by the timeouts
 * and maxConnections), never one of the maxInFlight slots.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { App } from "../app.ts";
import type { Ticket } from "../api/admission.ts";
import { adminGuard } from "../api/auth.ts";
import { NewsrecError, notFound, overloaded } from "../errors.ts";
import type { RankRequest } from "../rank/types.ts";
import { newsParams, rankBody, upsertBody } from "./schemas.ts";
import { sendError } from "./errors.ts";
import type { NewsMeta } from "../catalog/store.ts";
import { decode, encode, messageType } from "../wire/proto.ts";

const PROTOBUF = "application/x-protobuf";

const tickets = new WeakMap<FastifyRequest, Ticket>();

export function buildHttpServer(app: App, opts: { logger?: boolean } = {}): FastifyInstance {
  const { config, metrics } = app;
  const f = Fastify({
    logger: opts.logger ? { level: config.logLevel === "silent" ? "silent" : config.logLevel } : false,
    bodyLimit: config.bodyLimitBytes,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    return503OnClosing: true,
    // Node answers 408 and closes a connection whose request is not all in within
    // bodyTimeoutMs (headers within headersTimeoutMs); it checks every second, not every 30.
    requestTimeout: config.bodyTimeoutMs,
    connectionTimeout: config.idleTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: { headersTimeout: config.headersTimeoutMs, connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs) },
  });
  f.server.maxConnections = config.maxConnections;
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

  const checkAdmin = adminGuard(app.adminToken, "Authorization");
  const admin = async (req: FastifyRequest) => checkAdmin(req.headers.authorization);

  // Past maxInFlight requests in progress (on both transports), refuse at once rather than
  // queue without bound. The slot is given back when the response is done or the connection
  // is gone, whichever comes first; a client gone early also aborts the work queued for it.
  const admit = async (req: FastifyRequest, reply: FastifyReply) => {
    const ticket = app.admission.tryEnter("http");
    if (!ticket) {
      metrics.rejected.inc({ reason: "in_flight" });
      throw overloaded("the server");
    }
    tickets.set(req, ticket);
    reply.raw.once("close", () => (reply.raw.writableFinished ? ticket.release() : ticket.abandon()));
  };
  const signalOf = (req: FastifyRequest) => tickets.get(req)?.signal;

  f.addHook("onResponse", async (req, reply) => {
    const method = req.routeOptions.url ? `${req.method} ${req.routeOptions.url}` : "unmatched";
    const labels = { transport: "http", method, status: String(reply.statusCode) };
    metrics.requests.inc(labels);
    metrics.requestSeconds.observe(labels, reply.elapsedTime / 1000);
  });

  const requireReady = () => {
    if (!app.ready) throw new NewsrecError("NOT_READY", "the server is not ready");
  };

  f.get("/healthz", async () => ({ status: "ok" }));
  f.get("/readyz", async (_req, reply) => {
    const h = app.health();
    const body = { ready: h.ready, reasons: h.reasons, checks: h.checks, model: app.rank.model, provider: app.encoders.provider, catalogItems: app.catalog.size };
    return reply.status(h.ready ? 200 : 503).send(body);
  });
  f.get("/metrics", async (_req, reply) => {
    reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  f.post("/rank", { schema: { body: rankBody(config) }, preHandler: admit }, async (req, reply) => {
    requireReady();
    const res = await app.rank.rank(req.body as RankRequest, performance.now() + config.requestTimeoutMs, signalOf(req));
    const stop = metrics.stage("serialization");
    const wantsProto = `${req.headers.accept ?? ""} ${req.headers["content-type"] ?? ""}`.includes(PROTOBUF);
    const out = wantsProto ? Buffer.from(encode(messageType("RankResponse"), res)) : JSON.stringify(res);
    stop();
    return reply.type(wantsProto ? PROTOBUF : "application/json; charset=utf-8").send(out);
  });

  f.put("/news", { schema: { body: upsertBody }, onRequest: admin, preHandler: admit }, async (req) => {
    requireReady();
    const { items } = req.body as { items: NewsMeta[] };
    const ids = new Set<string>();
    items.forEach((n, i) => {
      if (ids.has(n.id)) throw new NewsrecError("INVALID_ARGUMENT", `items/${i}/id: duplicate id ${n.id} in one batch`, { field: `items/${i}/id` });
      ids.add(n.id);
    });
    return { upserted: await app.writer.upsert(items) };
  });

  f.get("/news/:id", { schema: { params: newsParams }, preHandler: admit }, async (req) => {
    const { id } = req.params as { id: string };
    const meta = app.catalog.get(id);
    if (!meta) throw notFound(`news ${id}`);
    return meta;
  });

  f.delete("/news/:id", { schema: { params: newsParams }, onRequest: admin, preHandler: admit }, async (req) => {
    const { id } = req.params as { id: string };
    if (!(await app.writer.delete(id))) throw notFound(`news ${id}`);
    return { deleted: id };
  });

  return f;
}
