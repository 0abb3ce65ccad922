/**
 * The one error catalogue. Every error a client can see is a NewsrecError with a stable
 * code; each transport maps codes to its own status in exactly one place, from this table.
 */
export const CATALOGUE = {
  INVALID_ARGUMENT: { http: 400, grpc: 3 },
  UNAUTHENTICATED: { http: 401, grpc: 16 },
  NOT_FOUND: { http: 404, grpc: 5 },
  PAYLOAD_TOO_LARGE: { http: 413, grpc: 8 },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, grpc: 3 },
  OVERLOADED: { http: 503, grpc: 8 },
  NOT_READY: { http: 503, grpc: 14 },
  /** A dependency outside the request failed (a full disk, a dead encoder worker); retrying later may work. */
  UNAVAILABLE: { http: 503, grpc: 14 },
  DEADLINE_EXCEEDED: { http: 504, grpc: 4 },
  /** The client went away before its answer (nginx's 499); only metrics and logs see it. */
  CANCELLED: { http: 499, grpc: 1 },
  INTERNAL: { http: 500, grpc: 13 },
} as const;

export type ErrorCode = keyof typeof CATALOGUE;

export class NewsrecError extends Error {
  readonly code: ErrorCode;
  /** The request field at fault, as a JSON-pointer-like path ("history/3"), when there is one. */
  readonly field: string | undefined;
  /** Seconds a client should wait before retrying (overload). */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, opts: { field?: string; retryAfter?: number; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = "NewsrecError";
    this.code = code;
    this.field = opts.field;
    this.retryAfter = opts.retryAfter;
  }

  get httpStatus(): number {
    return CATALOGUE[this.code].http;
  }

  get grpcStatus(): number {
    return CATALOGUE[this.code].grpc;
  }

  toJSON(): { code: ErrorCode; message: string; field?: string } {
    return this.field ? { code: this.code, message: this.message, field: this.field } : { code: this.code, message: this.message };
  }
}

export const invalid = (field: string, message: string): NewsrecError => new NewsrecError("INVALID_ARGUMENT", `${field}: ${message}`, { field });

export const notFound = (what: string): NewsrecError => new NewsrecError("NOT_FOUND", `${what} not found`);

export const overloaded = (what: string, retryAfter = 1): NewsrecError => new NewsrecError("OVERLOADED", `${what} is overloaded; retry later`, { retryAfter });

/** Any thrown value as a NewsrecError; unknown errors become INTERNAL without leaking their text. */
export function asNewsrecError(err: unknown): NewsrecError {
  if (err instanceof NewsrecError) return err;
  return new NewsrecError("INTERNAL", "internal error", { cause: err });
}
