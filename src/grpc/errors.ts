/** The one place gRPC turns thrown errors into statuses, from the error catalogue. */
import { Metadata, type ServiceError, type status } from "@grpc/grpc-js";
import { asNewsrecError } from "../errors.ts";

export function toServiceError(err: unknown): Partial<ServiceError> & { code: status; details: string } {
  const e = asNewsrecError(err);
  const metadata = new Metadata();
  metadata.set("newsrec-error-code", e.code);
  if (e.field) metadata.set("newsrec-field", e.field);
  if (e.retryAfter) metadata.set("retry-after", String(e.retryAfter));
  return { code: e.grpcStatus as status, details: e.message, metadata };
}
