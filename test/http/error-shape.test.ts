/** Every refusal has the catalogue's shape, fastify's own included. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, type Running } from "../helpers.ts";

let s: Running;
before(async () => {
  s = await startServer({ demoNews: 20 });
});
after(() => s.close());

test("a URL that does not decode is 400 INVALID_ARGUMENT naming the url", async () => {
  const r = await fetch(`${s.url}/news/%ZZ`);
  assert.equal(r.status, 400);
  const body = (await r.json()) as { error: { code: string; field: string } };
  assert.equal(body.error.code, "INVALID_ARGUMENT");
  assert.equal(body.error.field, "url");
});
