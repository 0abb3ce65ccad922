#!/usr/bin/env node
// In a clone, tsx compiles the TypeScript sources on load, so no build step is needed. An
// install without dev dependencies has no tsx: it runs the build in dist/ (npm run build).
let main;
let tsx = null;
try {
  tsx = await import("tsx/esm/api");
} catch (err) {
  if (err?.code !== "ERR_MODULE_NOT_FOUND") throw err;
}
if (tsx) {
  tsx.register();
  ({ main } = await import("../src/cli/main.ts"));
} else {
  ({ main } = await import("../dist/cli/main.js"));
}
await main(process.argv);
