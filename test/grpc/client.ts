/** A gRPC client built from the proto file alone, as any other gRPC user would build one. */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { PROTO_PATH } from "../../src/wire/proto.ts";

const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_PATH, { keepCase: false, defaults: false })) as any;

export function grpcClient(address: string, options: grpc.ChannelOptions = {}): any {
  return new pkg.newsrec.v1.Recommender(address, grpc.credentials.createInsecure(), options);
}

export function call<T>(client: any, method: string, req: object, opts: { metadata?: grpc.Metadata; deadline?: Date } = {}): Promise<T> {
  return new Promise((resolve, reject) =>
    client[method](req, opts.metadata ?? new grpc.Metadata(), opts.deadline ? { deadline: opts.deadline } : {}, (err: grpc.ServiceError | null, res: T) =>
      err ? reject(err) : resolve(res),
    ),
  );
}
