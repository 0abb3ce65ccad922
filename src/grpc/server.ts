/**
 * The gRPC transport: newsrec.v1.Recommender over the same rank service and writer as HTTP,
 * beside grpc.health.v1.Health and server reflection (so grpcurl works without the proto). One
 * wrapper around every method does the cross-cutting work (admin check, admission, deadline,
 * decoding, metrics); requests are parsed and guarded by src/api/, the code HTTP uses.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check";
import type { App } from "../app.ts";
import type { Cancellation, Ticket } from "../api/admission.ts";
import { createApi, isMethod, type Inputs, type Method } from "../api/operations.ts";
import { decodeBody } from "../api/requests.ts";
import { NewsrecError, notFound, overloaded } from "../errors.ts";
import { decode, encode, messageType, PROTO_PATH, RECOMMENDER_METHODS, SERVICE } from "../wire/proto.ts";
import { toServiceError } from "./errors.ts";

export { SERVICE };

interface CallContext {
  call: grpc.ServerUnaryCall<unknown, unknown>;
  deadline: number;
  cancel: Cancellation;
}
type Handlers = { [M in Method]: (input: Inputs[M], ctx: CallContext) => Promise<object> };

/**
 * The call's deadline as a performance.now() time: the client's, or requestTimeoutMs from now
 * when it set none, so no call can hold its slot for ever.
 */
function deadlineOf(call: grpc.ServerUnaryCall<unknown, unknown>, defaultMs: number): number {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : Number(d);
  return Number.isFinite(ms) ? performance.now() + (ms - Date.now()) : performance.now() + defaultMs;
}

/**
 * Requests travel to the handler as raw bytes and are decoded there, after admission: a full
 * server spends no main-thread time decoding what it will refuse. grpc-js itself refuses
 * messages over grpc.max_receive_message_length before this code sees them.
 */
function definition(): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const m of RECOMMENDER_METHODS) {
    const res = messageType(m.response);
    def[m.name] = {
      path: `/${SERVICE}/${m.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (o: object) => Buffer.from(encode(messageType(m.request), o)),
      requestDeserialize: (b: Buffer) => b,
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
  const api = createApi(app);
  // Each method's work on its typed input; parsing and guards are the API's (src/api/).
  const handlers: Handlers = {
    Rank: (body, { deadline, cancel }) => app.rank.rank(body, deadline, cancel),
    UpsertNews: async (items) => ({ upserted: await app.writer.upsert(items) }),
    DeleteNews: async (id) => {
      if (!(await app.writer.delete(id))) throw notFound(`news ${id}`);
      return { deleted: id };
    },
    GetNews: async (id) => {
      const meta = app.catalog.get(id);
      if (!meta) throw notFound(`news ${id}`);
      return meta;
    },
  };
  const run = <M extends Method>(method: M, raw: Record<string, unknown>, ctx: CallContext): Promise<object> =>
    handlers[method](api.accept(method, raw, "protobuf"), ctx);

  const server = new grpc.Server({
    "grpc.max_receive_message_length": config.bodyLimitBytes,
    "grpc.max_concurrent_streams": config.maxStreams,
  });
  const impl: grpc.UntypedServiceImplementation = {};
  for (const { name, request } of RECOMMENDER_METHODS) {
    // A method in the proto with no operation behind it is a programming error: fail at start.
    if (!isMethod(name)) throw new Error(`${SERVICE}/${name} has no operation in src/api/operations.ts`);
    impl[name] = (call: grpc.ServerUnaryCall<Buffer, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const end = metrics.requestSeconds.startTimer();
      const unary = call as grpc.ServerUnaryCall<unknown, unknown>;
      let ticket: Ticket | null = null;
      let answered = false;
      const deadline = deadlineOf(unary, config.requestTimeoutMs);
      const finish = (err: ReturnType<typeof toServiceError> | null, value?: object) => {
        if (answered) return;
        answered = true;
        ticket?.release();
        // A call the client ended is labelled by how it ended, whatever the aborted work threw.
        const gone = call.cancelled ? (performance.now() >= deadline ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED) : null;
        const labels = { transport: "grpc", method: name, status: grpc.status[gone ?? (err ? err.code : grpc.status.OK)]! };
        metrics.requests.inc(labels);
        end(labels);
        // A client that gave up (deadline, cancel) gets nothing more; its work stops here.
        if (call.cancelled) return;
        if (err) callback(err);
        else callback(null, value);
      };
      try {
        // Unauthenticated writes are refused before any decoding or admission.
        const auth = call.metadata.get("authorization")[0];
        api.authorize(name, typeof auth === "string" ? auth : undefined);
      } catch (e) {
        return finish(toServiceError(e));
      }
      ticket = app.admission.tryEnter("grpc");
      if (!ticket) {
        metrics.rejected.inc({ reason: "in_flight" });
        return finish(toServiceError(overloaded("the server")));
      }
      const held = ticket;
      // grpc-js also emits "cancelled" after every status it sends, OK included: only a call
      // still unanswered was given up by its client.
      call.once("cancelled", () => {
        if (!answered) held.abandon();
      });
      if (deadline <= performance.now()) {
        return finish(toServiceError(new NewsrecError("DEADLINE_EXCEEDED", "the deadline passed before the work began")));
      }
      let work: Promise<object>;
      try {
        work = run(name, decodeBody(request, call.request), { call: unary, deadline, cancel: held });
      } catch (e) {
        return finish(toServiceError(e));
      }
      work.then(
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
    server.bindAsync(`${host.includes(":") ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const setServing = (serving: boolean) => {
    const s = serving ? "SERVING" : "NOT_SERVING";
    health.setStatus("", s);
    health.setStatus(SERVICE, s);
  };
  setServing(app.health().ready);
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
