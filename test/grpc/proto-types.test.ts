import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { generate, GENERATED } from "../../scripts/gen-proto-types.ts";

test("src/wire/generated.ts is current with the proto file (regenerate: node --import tsx scripts/gen-proto-types.ts)", () => {
  assert.equal(readFileSync(GENERATED, "utf8"), generate());
});
