/**
 * The operations of the API and what each needs before it runs, in one table for both
 * transports (keyed by the proto service's method names; a test checks they match): whether it
 * writes (and so needs the admin token), whether it needs a ready server, and how its raw input
 * becomes a typed one. HTTP routes and gRPC methods name an operation and call these guards; they
 * write none of their own.
 */
import { adminGuard } from "./auth.ts";
import { NewsrecError } from "../errors.ts";
import { requestsFor, type Requests, type Source } from "./requests.ts";
import type { NewsItem, RankLimits, RankRequest } from "./schemas.ts";

export interface Inputs {
  Rank: RankRequest;
  UpsertNews: NewsItem[];
  DeleteNews: string;
  GetNews: string;
}
export type Method = keyof Inputs;

interface Operation<M extends Method> {
  /** Changes the catalog: refused without the admin token (when one is set). */
  write: boolean;
  /** Needs the model and catalog (reads of single items and deletes work while starting or draining). */
  needsReady: boolean;
  parse: (r: Requests) => (raw: unknown, source: Source) => Inputs[M];
}

export const OPERATIONS: { [M in Method]: Operation<M> } = {
  Rank: { write: false, needsReady: true, parse: (r) => r.rank },
  UpsertNews: { write: true, needsReady: true, parse: (r) => r.upsert },
  DeleteNews: { write: true, needsReady: false, parse: (r) => r.newsId },
  GetNews: { write: false, needsReady: false, parse: (r) => r.newsId },
};

export const isMethod = (name: string): name is Method => Object.hasOwn(OPERATIONS, name);

export interface Api {
  /** UNAUTHENTICATED unless a write carries "Bearer <admin token>"; run before reading the body. */
  authorize(method: Method, authorization: string | undefined): void;
  /** The typed input, or the INVALID_ARGUMENT / NOT_READY the client sees (validation first). */
  accept<M extends Method>(method: M, raw: unknown, source: Source): Inputs[M];
}

export function createApi(app: { adminToken: string | undefined; readonly ready: boolean; config: RankLimits }): Api {
  // One wording for both transports: an HTTP header and a gRPC metadata key both named authorization.
  const checkAdmin = adminGuard(app.adminToken, "authorization");
  const requests = requestsFor(app.config);
  return {
    authorize(method, authorization) {
      if (OPERATIONS[method].write) checkAdmin(authorization);
    },
    accept(method, raw, source) {
      const input = OPERATIONS[method].parse(requests)(raw, source);
      if (OPERATIONS[method].needsReady && !app.ready) throw new NewsrecError("NOT_READY", "the server is not ready");
      return input;
    },
  };
}
