/**
 * The protobuf messages of proto/newsrec/v1/recommender.proto, loaded with protobufjs and
 * shared by gRPC and the HTTP protobuf content type. Decoded messages become plain objects
 * with the HTTP JSON field names (camelCase), so both transports validate and answer through
 * the same code.
 */
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

export const PROTO_PATH = fileURLToPath(new URL("../../proto/newsrec/v1/recommender.proto", import.meta.url));
export const PACKAGE = "newsrec.v1";

const root = new protobuf.Root();
root.loadSync(PROTO_PATH, { keepCase: false });
root.resolveAll();
export const protoRoot = root;

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: false, arrays: false, objects: false, oneofs: false };

export function messageType(name: string): protobuf.Type {
  return root.lookupType(`${PACKAGE}.${name}`);
}

export const SERVICE = `${PACKAGE}.Recommender`;

export interface MethodInfo {
  name: string;
  /** Message names in PACKAGE. */
  request: string;
  response: string;
}

/** The service's unary methods, read from the proto file itself (nothing generated to go stale). */
export const RECOMMENDER_METHODS: readonly MethodInfo[] = root
  .lookupService(SERVICE)
  .methodsArray.map((m) => ({ name: m.name, request: m.requestType, response: m.responseType }));

export class DecodeError extends Error {}

/** Bytes to a plain object; a truncated or malformed message throws DecodeError. */
export function decode(type: protobuf.Type, bytes: Uint8Array): Record<string, unknown> {
  let msg: protobuf.Message;
  try {
    // A plain Uint8Array view: protobufjs's Buffer reader does not bounds-check strings, so a
    // truncated Buffer would decode "successfully" into a shorter string.
    msg = type.decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    throw new DecodeError(`${type.name} is not a valid protobuf message: ${(err as Error).message}`);
  }
  return type.toObject(msg, TO_OBJECT);
}

export function encode(type: protobuf.Type, obj: object): Uint8Array {
  return type.encode(type.fromObject(obj)).finish();
}
