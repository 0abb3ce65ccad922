/**
 * User vectors, cached by (user id, hash of the history, model fingerprint). A new click
 * changes the history hash and so the key: a cached vector is never stale, only unused.
 */
import * as crypto from "node:crypto";
import { LRUCache } from "lru-cache";
import type { UserVector } from "../model/encoders.ts";

export interface CacheOptions {
  maxEntries: number;
  ttlSeconds: number;
}

const sha1: (text: string) => string =
  typeof crypto.hash === "function" ? (text) => crypto.hash("sha1", text, "base64url") : (text) => crypto.createHash("sha1").update(text).digest("base64url");

export class UserCache {
  private readonly lru: LRUCache<string, UserVector>;

  constructor(
    private readonly fingerprint: string,
    o: CacheOptions,
  ) {
    this.lru = new LRUCache({ max: Math.max(1, o.maxEntries), ttl: o.ttlSeconds > 0 ? o.ttlSeconds * 1000 : 0 });
  }

  /** SHA-1 of the ids, each followed by a 0 character (one-shot where node has crypto.hash: a third of the cost). */
  key(userId: string | undefined, history: string[]): string {
    const text = history.length ? `${history.join("\0")}\0` : "";
    return `${this.fingerprint}:${userId ?? ""}:${sha1(text)}`;
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
