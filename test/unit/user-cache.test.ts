/**
 * User-cache keys: one per (user, history, model), never shared by two, and bounded in size.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { UserCache } from "../../src/rank/cache.ts";

const cache = new UserCache("fp", { maxEntries: 10, ttlSeconds: 0 });

test("a key is the same for the same user and history, and differs for any other", () => {
  assert.equal(cache.key("u", ["N1", "N2"]), cache.key("u", ["N1", "N2"]));
  const keys = [
    cache.key("u", ["N1", "N2"]),
    cache.key("u", ["N2", "N1"]),
    cache.key("u", ["N1N2"]),
    cache.key("u", ["N1"]),
    cache.key("u", []),
    cache.key("v", ["N1", "N2"]),
    cache.key(undefined, ["N1", "N2"]),
    // A user id that holds what would follow another's.
    cache.key("u=N1", ["N2"]),
    cache.key("u", ["=N1", "N2"]),
    cache.key("u#", ["N1", "N2"]),
    // Ids that hold what separates others.
    cache.key("u", ["N1\u0000N2"]),
    cache.key("u", ['N1","N2']),
    cache.key("u", ["N1,N2"]),
  ];
  assert.equal(new Set(keys).size, keys.length, keys.join(" | "));
  assert.notEqual(new UserCache("fp2", { maxEntries: 1, ttlSeconds: 0 }).key("u", ["N1"]), cache.key("u", ["N1"]), "the model is part of it");
});

test("a long history is keyed by its hash: keys stay small, and still differ", () => {
  const long = Array.from({ length: 200 }, (_, i) => `N${100_000 + i}`);
  assert.notEqual(cache.key("u", [...long, "a\u0000b"]), cache.key("u", [...long, "a", "b"]));
  const a = cache.key("u", long);
  const b = cache.key("u", [...long.slice(0, -1), "N9"]);
  assert.notEqual(a, b);
  assert.ok(a.length < 64, a);
  assert.equal(cache.key("u", long), a);
});
