import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_BUNDLE, FUM_BUNDLE, PUNR_BUNDLE, SIAMESE_BUNDLE } from "../helpers.ts";
import { checkGolden } from "./golden.ts";

test("default (hierarchical) bundle matches its PyTorch golden vectors within tolerance", async () => {
  assert.ok((await checkGolden(DEFAULT_BUNDLE)) >= 20);
});

test("siamese-tiny bundle matches its PyTorch golden vectors within tolerance", async () => {
  assert.ok((await checkGolden(SIAMESE_BUNDLE)) >= 20);
});

test("fum-tiny bundle: news, the clicked news' token ids and user vectors match PyTorch's within tolerance", async () => {
  const golden = JSON.parse(readFileSync(join(FUM_BUNDLE, "golden.json"), "utf8"));
  assert.equal(golden.tolerance, 1e-4);
  // The users of 10 and 50 clicks give the user encoder its most news (tokens.maxNews, 10).
  assert.ok(golden.users.some((u: { tokenIds: number[][] }) => u.tokenIds.length === 10));
  assert.ok((await checkGolden(FUM_BUNDLE)) >= 20);
});

test("siamese-punr-tiny (PUNR pre-trained, then fine-tuned) bundle matches its PyTorch golden vectors within tolerance", async () => {
  assert.match(readFileSync(join(PUNR_BUNDLE, "MODEL_CARD.md"), "utf8"), /started from the pre-training checkpoint .*pretrain\.py --objective punr/);
  assert.ok((await checkGolden(PUNR_BUNDLE)) >= 20);
});
