/**
 * User vectors, cached by (user id, hash of the history, model fingerprint). A new click
 * changes the history hash and so the key: a cached vector is never stale, only unused.
 */
import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { UserVector } from "../model/encoders.ts";

export interface CacheOptions {
  maxEntries: number;
  ttlSeconds: number;
}

export class UserCache {
  private readonly lru: LRUCache<string, UserVector>;

  constructor(
    private readonly fingerprint: string,
    o: CacheOptions,
  ) {
    this.lru = new LRUCache({ max: Math.max(1, o.maxEntries), ttl: o.ttlSeconds > 0 ? o.ttlSeconds * 1000 : 0 });
  }

  key(userId: string | undefined, history: string[]): string {
    const h = createHash("sha1");
    for (const id of history) h.update(id).update("\0");
    return `${this.fingerprint}:${userId ?? ""}:${h.digest("base64url")}`;
  }

  get(key: string): UserVector | undefined {
    return this.lru.get(key);
  }

  set(key: string, v: UserVector): void {
    if (this.lru.max > 0) this.lru.set(key, v);
  }

  get size(): number {
    return this.lru.size;
  }
}
