import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_BUNDLE, SIAMESE_BUNDLE } from "../helpers.ts";
import { checkGolden } from "./golden.ts";

test("default (hierarchical) bundle matches its PyTorch golden vectors within tolerance", async () => {
  assert.ok((await checkGolden(DEFAULT_BUNDLE)) >= 20);
});

test("siamese-tiny bundle matches its PyTorch golden vectors within tolerance", async () => {
  assert.ok((await checkGolden(SIAMESE_BUNDLE)) >= 20);
});
