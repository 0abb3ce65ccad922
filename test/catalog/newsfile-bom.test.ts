/**
 * Spreadsheet tools save news files with a UTF-8 byte-order mark and CRLF line endings. The mark
 * once became part of the first row's id (`\ufeffN25031`), so `newsrec embed` indexed that item
 * under an id nobody asks for and GET /news/N25031 answered 404.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readNewsFile } from "../../src/catalog/newsfile.ts";
import { readSnapshot } from "../../src/catalog/snapshot.ts";
import { catalogOptions } from "../../src/catalog/store.ts";
import { buildConfig } from "../../src/config.ts";
import { indexPhi, loadBundle } from "../../src/model/bundle.ts";
import { DEFAULT_BUNDLE, ROOT } from "../helpers.ts";

const BOM = "\ufeff";

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "newsfile-bom-"));
}

test("JSON Lines: a byte-order mark and CRLF endings leave ids and titles as written", async () => {
  const dir = tmp();
  try {
    const p = join(dir, "news.jsonl");
    writeFileSync(p, BOM + ['{"id":"N25031","title":"Storm hits the coast"}', '{"id":"N2","title":"Markets rally","category":"finance"}', ""].join("\r\n"));
    const r = await readNewsFile(p);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.items, [
      { id: "N25031", title: "Storm hits the coast" },
      { id: "N2", title: "Markets rally", category: "finance" },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("newsrec embed indexes the first row of a news.tsv with a byte-order mark under its real id", () => {
  const dir = tmp();
  try {
    const row = (id: string, title: string) => [id, "news", "newsus", title, "", "", "[]", "[]"].join("\t");
    writeFileSync(join(dir, "news.tsv"), BOM + [row("N25031", "Storm hits the coast"), row("N2", "Markets rally"), ""].join("\r\n"));
    const r = spawnSync(process.execPath, [join(ROOT, "bin/newsrec.mjs"), "embed", "--news", join(dir, "news.tsv"), "--out", join(dir, "snap")], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const bundle = loadBundle(DEFAULT_BUNDLE);
    const opts = catalogOptions(buildConfig(), indexPhi(bundle.manifest));
    const { catalog } = readSnapshot(join(dir, "snap"), { fingerprint: bundle.manifest.fingerprint, dimension: bundle.manifest.dimension }, opts);
    assert.equal(catalog.get("N25031")?.title, "Storm hits the coast");
    assert.equal(catalog.get(`${BOM}N25031`), undefined);
    assert.equal(catalog.size, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
