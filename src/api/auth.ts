/**
 * The admin token guarding writes, for both transports. The comparison takes the same time
 * whatever the token sent (both sides are hashed to equal length first), so response timing
 * tells an attacker nothing about how much of a guess was right.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { ConfigError, type Config } from "../config.ts";
import { NewsrecError } from "../errors.ts";

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

/** The configured token: adminTokenFile (a mounted secret) wins over adminToken. */
export function adminTokenOf(config: Config): string | undefined {
  if (!config.adminTokenFile) return config.adminToken;
  let token: string;
  try {
    token = readFileSync(config.adminTokenFile, "utf8").trim();
  } catch (err) {
    throw new ConfigError(`cannot read adminTokenFile ${config.adminTokenFile}: ${(err as Error).message}`);
  }
  if (!token) throw new ConfigError(`adminTokenFile ${config.adminTokenFile} is empty`);
  return token;
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

/**
 * Refuses to serve open writes to a network: on a non-loopback address a token is required
 * unless allowAnonymousWrites says otherwise. Returns a warning line when writes are open.
 */
export function checkWriteAccess(config: Config, token: string | undefined): string | null {
  if (token) return null;
  if (!isLoopback(config.host) && !config.allowAnonymousWrites) {
    throw new ConfigError(
      `listening on ${config.host} without an admin token would let anyone who can connect change the catalog; set adminTokenFile (or NEWSREC_ADMIN_TOKEN), or pass --allow-anonymous-writes`,
    );
  }
  return `warning: no admin token; writes (PUT /news, DELETE /news, UpsertNews, DeleteNews) are open to anyone who can reach ${config.host}`;
}

/** A guard that throws UNAUTHENTICATED unless the header is "Bearer <token>" (none: writes open). */
export function adminGuard(token: string | undefined, how: string): (authorization: string | undefined) => void {
  if (!token) return () => {};
  const expected = digest(`Bearer ${token}`);
  return (authorization) => {
    if (authorization === undefined || !timingSafeEqual(digest(authorization), expected)) {
      throw new NewsrecError("UNAUTHENTICATED", `writes need ${how}: Bearer <admin token>`);
    }
  };
}
