// Index worker threads start here when run from the sources: register tsx, then load the worker.
import { register } from "tsx/esm/api";

register();
await import("./shard-worker.ts");
