/**
 * The gRPC transport: newsrec.v1.Recommender over the same rank service and writer as HTTP,
 * beside grpc.health.v1.Health and server reflection (so grpcurl works without the proto).
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check";
import type { App } from "../app.ts";
import { NewsrecError, notFound, overloaded } from "../errors.ts";
import { newsParams, rankBody, upsertBody } from "../http/schemas.ts";
import type { RankRequest } from "../rank/types.ts";
import type { NewsMeta } from "../catalog/store.ts";
import { decode, DecodeError, encode, messageType, PACKAGE, PROTO_PATH } from "../wire/proto.ts";
import { check } from "../wire/validate.ts";
import { RecommenderMethods } from "../wire/generated.ts";
import { toServiceError } from "./errors.ts";

export const SERVICE = `${PACKAGE}.Recommender`;

type Handler = (req: Record<string, unknown>, call: grpc.ServerUnaryCall<unknown, unknown>) => Promise<object>;

/** The client's deadline as a performance.now() time (Infinity when it set none). */
function deadlineOf(call: grpc.ServerUnaryCall<unknown, unknown>): number {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : Number(d);
  return Number.isFinite(ms) ? performance.now() + (ms - Date.now()) : Infinity;
}

/** A request that failed to decode travels to the handler as this marker, to become INVALID_ARGUMENT. */
const DECODE_FAILED = Symbol("decode failed");

function definition(): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const m of RecommenderMethods) {
    const req = messageType(m.request);
    const res = messageType(m.response);
    def[m.name] = {
      path: `/${SERVICE}/${m.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (o: object) => Buffer.from(encode(req, o)),
      requestDeserialize: (b: Buffer) => {
        try {
          return decode(req, b);
        } catch (err) {
          return { [DECODE_FAILED]: (err as DecodeError).message };
        }
      },
      responseSerialize: (o: object) => Buffer.from(encode(res, o)),
      responseDeserialize: (b: Buffer) => decode(res, b),
      originalName: m.name,
    };
  }
  return def as grpc.ServiceDefinition;
}

export interface GrpcServer {
  server: grpc.Server;
  port: number;
  health: HealthImplementation;
  setServing(serving: boolean): void;
  close(graceMs: number): Promise<void>;
}

export async function startGrpcServer(app: App, host: string, port: number): Promise<GrpcServer> {
  const { config, metrics } = app;
  const requireAdmin = (md: grpc.Metadata) => {
    if (config.adminToken && md.get("authorization")[0] !== `Bearer ${config.adminToken}`) {
      throw new NewsrecError("UNAUTHENTICATED", "writes need authorization: Bearer <admin token> metadata");
    }
  };
  const requireReady = () => {
    if (!app.ready) throw new NewsrecError("NOT_READY", "the server is not ready");
  };
  // Built once: check() compiles a validator per schema object.
  const rankSchema = rankBody(config);
  const handlers: Record<string, Handler> = {
    Rank: async (req, call) => {
      requireReady();
      const body = check<RankRequest>(rankSchema, { history: [], ...req });
      return app.rank.rank(body, deadlineOf(call));
    },
    UpsertNews: async (req, call) => {
      requireAdmin(call.metadata);
      requireReady();
      const { items } = check<{ items: NewsMeta[] }>(upsertBody, { items: [], ...req });
      return { upserted: await app.writer.upsert(items) };
    },
    DeleteNews: async (req, call) => {
      requireAdmin(call.metadata);
      const { id } = check<{ id: string }>(newsParams, { id: "", ...req });
      if (!(await app.writer.delete(id))) throw notFound(`news ${id}`);
      return { deleted: id };
    },
    GetNews: async (req) => {
      const { id } = check<{ id: string }>(newsParams, { id: "", ...req });
      const meta = app.catalog.get(id);
      if (!meta) throw notFound(`news ${id}`);
      return meta;
    },
  };

  const server = new grpc.Server();
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [name, fn] of Object.entries(handlers)) {
    impl[name] = (call: grpc.ServerUnaryCall<Record<string | symbol, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const end = metrics.requestSeconds.startTimer();
      const admitted = app.admission.tryEnter();
      const finish = (err: ReturnType<typeof toServiceError> | null, value?: object) => {
        if (admitted) app.admission.leave();
        const labels = { transport: "grpc", method: name, status: grpc.status[err ? err.code : grpc.status.OK]! };
        metrics.requests.inc(labels);
        end(labels);
        // A client that gave up (deadline, cancel) gets nothing more; its work stops here.
        if (call.cancelled) return;
        if (err) callback(err);
        else callback(null, value);
      };
      if (!admitted) {
        metrics.rejected.inc({ reason: "in_flight" });
        return finish(toServiceError(overloaded("the server")));
      }
      const decodeError = call.request[DECODE_FAILED] as string | undefined;
      if (decodeError) return finish(toServiceError(new NewsrecError("INVALID_ARGUMENT", `body: ${decodeError}`, { field: "body" })));
      if (deadlineOf(call as grpc.ServerUnaryCall<unknown, unknown>) <= performance.now()) {
        return finish(toServiceError(new NewsrecError("DEADLINE_EXCEEDED", "the deadline passed before the work began")));
      }
      fn(call.request as Record<string, unknown>, call as grpc.ServerUnaryCall<unknown, unknown>).then(
        (v) => finish(null, v),
        (e) => finish(toServiceError(e)),
      );
    };
  }
  server.addService(definition(), impl);

  const health = new HealthImplementation({ "": "NOT_SERVING", [SERVICE]: "NOT_SERVING" });
  health.addToServer(server);
  const reflection = new ReflectionService(protoLoader.loadSync([PROTO_PATH, healthProtoPath], { keepCase: false }));
  reflection.addToServer(server);

  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host.includes(":") ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const setServing = (serving: boolean) => {
    const s = serving ? "SERVING" : "NOT_SERVING";
    health.setStatus("", s);
    health.setStatus(SERVICE, s);
  };
  setServing(app.ready);
  return {
    server,
    port: bound,
    health,
    setServing,
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
