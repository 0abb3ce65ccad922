/**
 * The HTTP transport: routes over the rank service and the catalog writer. Each API route names
 * its operation (src/api/operations.ts) and cross-cutting work lives in hooks: the admin check
 * runs on request, before any body byte is read; the input is parsed by the API's parsers (the
 * ones gRPC uses) once the body is in, and admission runs only for a valid request, so a slow
 * client holds a connection (bounded by the timeouts and maxConnections), never one of the
 * maxInFlight slots.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type onRequestHookHandler } from "fastify";
import type { App } from "../app.ts";
import type { Ticket } from "../api/admission.ts";
import { useJsonBodyParser } from "./json-body.ts";
import { whenResponseEnds } from "./response-end.ts";
import { createApi, OPERATIONS, type Inputs, type Method } from "../api/operations.ts";
import { decodeBody } from "../api/requests.ts";
import { NewsrecError, notFound, overloaded } from "../errors.ts";
import { sendError } from "./errors.ts";
import { encode, messageType, RECOMMENDER_METHODS } from "../wire/proto.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The operation's typed input, as its parser made it (set by the preHandler hook). */
    apiInput: unknown;
    /** The admission slot the request holds, once admitted. */
    admissionTicket: Ticket | null;
    /** Whether the body came as application/x-protobuf. */
    protobufBody: boolean;
  }
  interface FastifyContextConfig {
    /** The API operation a route serves (src/api/operations.ts); hooks run its guards. */
    operation?: Method;
    /** Where its input is: the body (default) or the path's parameters. */
    from?: "body" | "params";
  }
}

const PROTOBUF = "application/x-protobuf";

const operationOf = (req: FastifyRequest): Method | undefined => req.routeOptions.config?.operation;
const input = <M extends Method>(req: FastifyRequest, _method: M): Inputs[M] => req.apiInput as Inputs[M];

export function buildHttpServer(app: App, opts: { logger?: boolean } = {}): FastifyInstance {
  const { config, metrics } = app;
  const f = Fastify({
    logger: opts.logger ? { level: config.logLevel === "silent" ? "silent" : config.logLevel } : false,
    bodyLimit: config.bodyLimitBytes,
    // Long enough for any id the schema accepts, percent-encoded (fastify answers 414 past it),
    // so that an over-long id is refused by the schema, in the words gRPC uses.
    routerOptions: { maxParamLength: 4096 },
    // While draining, requests still reach the routes, which answer 503 NOT_READY in the
    // catalogue's shape (fastify's own 503 would not be); /readyz says not ready.
    return503OnClosing: false,
    // A URL fastify cannot decode is answered by the one error mapping too.
    frameworkErrors: (err, req, reply) => sendError(err, req, reply),
    // Node answers 408 and closes a connection whose request is not all in within
    // bodyTimeoutMs (headers within headersTimeoutMs); it checks every second, not every 30.
    requestTimeout: config.bodyTimeoutMs,
    connectionTimeout: config.idleTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: { headersTimeout: config.headersTimeoutMs, connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs) },
  });
  f.server.maxConnections = config.maxConnections;
  // Per-request state as properties fastify declares on every request (one shape), not side tables.
  f.decorateRequest("apiInput", null);
  f.decorateRequest("admissionTicket", null);
  f.decorateRequest("protobufBody", false);
  // JSON only: without this, fastify would parse text/plain and answer 400 instead of 415.
  f.removeContentTypeParser("text/plain");
  useJsonBodyParser(f);
  // application/x-protobuf bodies carry the gRPC request message of the route's operation; once
  // decoded they are parsed like gRPC's (proto3 defaults, then the same schemas as JSON).
  f.addContentTypeParser(PROTOBUF, { parseAs: "buffer" }, (req, body, done) => {
    const request = RECOMMENDER_METHODS.find((m) => m.name === operationOf(req))?.request;
    try {
      if (!request) throw new NewsrecError("UNSUPPORTED_MEDIA_TYPE", "send application/json");
      req.protobufBody = true;
      done(null, decodeBody(request, body as Buffer));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  f.setErrorHandler(sendError);
  f.setNotFoundHandler((req, reply) => sendError(notFound(`route ${req.method} ${req.url}`) as never, req, reply));

  const api = createApi(app);
  // The admin check runs on request, before any byte of the body is read, on the routes whose
  // operation writes (a route-level hook: reads, the hot path, run none).
  // Hooks take a callback rather than return a promise: no microtask hop per hook per request.
  const authorize: onRequestHookHandler = (req, _reply, done) => {
    try {
      api.authorize(operationOf(req)!, req.headers.authorization);
    } catch (err) {
      return done(err as Error);
    }
    done();
  };
  f.addHook("onRoute", (route) => {
    const method = route.config?.operation;
    if (method && OPERATIONS[method].write) route.onRequest = [...(route.onRequest ? [route.onRequest].flat() : []), authorize];
  });

  // Past maxInFlight requests in progress (on both transports), refuse at once rather than
  // queue without bound. The slot is given back when the response is done or the connection
  // is gone, whichever comes first; a client gone early also aborts the work queued for it.
  const admit = (req: FastifyRequest, reply: FastifyReply) => {
    const ticket = app.admission.tryEnter("http");
    if (!ticket) {
      metrics.rejected.inc({ reason: "in_flight" });
      throw overloaded("the server");
    }
    req.admissionTicket = ticket;
    whenResponseEnds(reply.raw, (finished) => {
      if (finished) return ticket.release();
      ticket.abandon();
      // fastify's onResponse does not run for a response that was never sent.
      metrics.requests.inc({ transport: "http", method: `${req.method} ${req.routeOptions.url}`, status: "499" });
    });
  };
  const cancelOf = (req: FastifyRequest) => req.admissionTicket ?? undefined;

  // Once the body is in: the operation's input is parsed and checked (the same code as gRPC's),
  // and only a valid request takes an admission slot.
  f.addHook("preHandler", (req, reply, done) => {
    const method = operationOf(req);
    if (!method) return done();
    try {
      const raw = req.routeOptions.config.from === "params" ? req.params : req.body;
      req.apiInput = api.accept(method, raw, req.protobufBody ? "protobuf" : "json");
      admit(req, reply);
    } catch (err) {
      return done(err as Error);
    }
    done();
  });

  f.addHook("onResponse", (req, reply, done) => {
    const method = req.routeOptions.url ? `${req.method} ${req.routeOptions.url}` : "unmatched";
    const labels = { transport: "http", method, status: String(reply.statusCode) };
    metrics.requests.inc(labels);
    metrics.requestSeconds.observe(labels, reply.elapsedTime / 1000);
    done();
  });

  f.get("/healthz", async () => ({ status: "ok" }));
  f.get("/readyz", async (_req, reply) => {
    const h = app.health();
    const body = {
      ready: h.ready,
      reasons: h.reasons,
      checks: h.checks,
      model: app.rank.model,
      provider: app.encoders.provider,
      catalogItems: app.catalog.size,
      efSearch: app.catalog.index.efSearch,
      // With a catalog log: its position, and whether the catalog takes writes (read-only keeps the replica ready: reads go on).
      ...(app.writer.logStatus ? { catalogLog: app.writer.logStatus() } : {}),
    };
    return reply.status(h.ready ? 200 : 503).send(body);
  });
  f.get("/metrics", async (_req, reply) => {
    reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  f.post("/rank", { config: { operation: "Rank" } }, async (req, reply) => {
    const answer = await app.rank.answer(input(req, "Rank"), performance.now() + config.requestTimeoutMs, cancelOf(req));
    const stop = metrics.stage("serialization");
    const wantsProto = `${req.headers.accept ?? ""} ${req.headers["content-type"] ?? ""}`.includes(PROTOBUF);
    const out = wantsProto ? Buffer.from(encode(messageType("RankResponse"), app.rank.response(answer))) : app.rank.json(answer);
    stop();
    return reply.type(wantsProto ? PROTOBUF : "application/json; charset=utf-8").send(out);
  });

  f.put("/news", { config: { operation: "UpsertNews" } }, async (req) => ({ upserted: await app.writer.upsert(input(req, "UpsertNews")) }));

  f.get("/news/:id", { config: { operation: "GetNews", from: "params" } }, async (req) => {
    const id = input(req, "GetNews");
    const meta = app.catalog.get(id);
    if (!meta) throw notFound(`news ${id}`);
    return meta;
  });

  f.delete("/news/:id", { config: { operation: "DeleteNews", from: "params" } }, async (req) => {
    const id = input(req, "DeleteNews");
    if (!(await app.writer.delete(id))) throw notFound(`news ${id}`);
    return { deleted: id };
  });

  return f;
}
