/**
 * Generates src/wire/generated.ts (TypeScript interfaces of every message) from the proto
 * file with protobufjs's reflection. `--check` exits 1 when the committed file is stale.
 * Run: node --import tsx scripts/gen-proto-types.ts [--check]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import { protoRoot, PACKAGE } from "../src/wire/proto.ts";

export const GENERATED = fileURLToPath(new URL("../src/wire/generated.ts", import.meta.url));

const SCALARS: Record<string, string> = {
  double: "number", float: "number", int32: "number", uint32: "number", sint32: "number", fixed32: "number", sfixed32: "number",
  int64: "number", uint64: "number", sint64: "number", fixed64: "number", sfixed64: "number", bool: "boolean", string: "string", bytes: "Uint8Array",
};

export function generate(): string {
  const ns = protoRoot.lookup(PACKAGE) as protobuf.Namespace;
  const out = ["// Generated from proto/newsrec/v1/recommender.proto by scripts/gen-proto-types.ts. Do not edit.", ""];
  for (const t of ns.nestedArray) {
    if (!(t instanceof protobuf.Type)) continue;
    out.push(`export interface ${t.name} {`);
    for (const f of t.fieldsArray) {
      const base = SCALARS[f.type] ?? f.type.split(".").pop()!;
      out.push(`  ${f.name}?: ${f.repeated ? `${base}[]` : base};`);
    }
    out.push("}", "");
  }
  for (const s of ns.nestedArray) {
    if (!(s instanceof protobuf.Service)) continue;
    out.push(`export const ${s.name}Methods = ${JSON.stringify(s.methodsArray.map((m) => ({ name: m.name, request: m.requestType, response: m.responseType })))} as const;`, "");
  }
  return out.join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = generate();
  if (process.argv.includes("--check")) {
    const current = readFileSync(GENERATED, "utf8");
    if (current !== text) {
      process.stderr.write("src/wire/generated.ts is out of date: run node --import tsx scripts/gen-proto-types.ts\n");
      process.exit(1);
    }
  } else {
    writeFileSync(GENERATED, text);
  }
}
