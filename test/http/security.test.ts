/** Writes are closed by default where it matters, and the token is checked before any body is read. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { connect } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildConfig } from "../../src/config.ts";
import { checkWriteAccess, isLoopback } from "../../src/api/auth.ts";
import { ROOT, startServer, type Running } from "../helpers.ts";

test("a non-loopback address needs an admin token unless anonymous writes are allowed", () => {
  for (const h of ["127.0.0.1", "127.3.4.5", "::1", "localhost"]) assert.ok(isLoopback(h), h);
  for (const h of ["0.0.0.0", "::", "10.1.2.3", "192.168.0.4"]) assert.ok(!isLoopback(h), h);
  assert.throws(() => checkWriteAccess(buildConfig({ host: "0.0.0.0" }), undefined), /without an admin token.*--allow-anonymous-writes/);
  assert.match(checkWriteAccess(buildConfig({ host: "0.0.0.0", allowAnonymousWrites: true }), undefined)!, /open to anyone/);
  assert.match(checkWriteAccess(buildConfig({ host: "127.0.0.1" }), undefined)!, /no admin token/);
  assert.equal(checkWriteAccess(buildConfig({ host: "0.0.0.0" }), "t"), null);
});

test("the real server refuses to start on 0.0.0.0 without a token, naming the way out", () => {
  const r = spawnSync(process.execPath, [join(ROOT, "bin/newsrec.mjs"), "serve", "--host", "0.0.0.0", "--port", "0", "--grpc-port", "0", "--demo-news", "10"], {
    encoding: "utf8",
    timeout: 60_000,
    env: { PATH: process.env.PATH },
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /without an admin token/);
  assert.match(r.stderr, /--allow-anonymous-writes/);
});

describe("admin token from a file", () => {
  let s: Running;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "newsrec-token-"));
    writeFileSync(join(dir, "token"), "s3cret-from-file\n");
    s = await startServer({ demoNews: 50, adminTokenFile: join(dir, "token") });
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const put = (auth: string | null, body: unknown) =>
    fetch(`${s.url}/news`, {
      method: "PUT",
      headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) },
      body: JSON.stringify(body),
    });

  test("the file's token opens writes; others, of any length, get 401", async () => {
    const item = { items: [{ id: "T1", title: "Harbour reopens after storm" }] };
    assert.equal((await put("Bearer s3cret-from-file", item)).status, 200);
    for (const bad of [null, "Bearer s3cret", "Bearer s3cret-from-filX", `Bearer ${"x".repeat(5000)}`, "s3cret-from-file"]) {
      const r = await put(bad, item);
      assert.equal(r.status, 401, String(bad).slice(0, 20));
      assert.equal(((await r.json()) as any).error.code, "UNAUTHENTICATED");
    }
  });

  test("an unauthenticated bad PUT is 401, not 400", async () => {
    const r = await put(null, { items: [{ nope: 1 }] });
    assert.equal(r.status, 401);
  });

  test("401 comes before the body is read", { timeout: 20_000 }, async () => {
    const { hostname, port } = new URL(s.url);
    const sock = connect(Number(port), hostname);
    sock.on("error", () => {});
    // A body of 100,000 bytes is announced and never sent: the answer cannot wait for it.
    sock.write("PUT /news HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n");
    const answer = await new Promise<string>((r) => sock.once("data", (b) => r(b.toString())));
    sock.destroy();
    assert.match(answer, /^HTTP\/1.1 401/);
  });
});
