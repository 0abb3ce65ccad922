import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { Command, CommanderError } from "commander";
import { embedCommand } from "./embed.ts";
import { evalCommand } from "./eval.ts";
import { serveCommand } from "./serve.ts";
import { synthCommand } from "./synth.ts";
import { tuneCommand } from "./tune.ts";
import { walCommand } from "./wal.ts";

export async function main(argv: string[]): Promise<void> {
  const program = new Command("newsrec").description("news-recommendation inference server and tools").exitOverride().showHelpAfterError(false);
  serveCommand(program);
  evalCommand(program);
  embedCommand(program);
  synthCommand(program);
  tuneCommand(program);
  walCommand(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`newsrec: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

/** Whether this module is the process's entry (the loader resolves it by real path, so compare that). */
function isEntry(): boolean {
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1] ?? "")).href;
  } catch {
    return false;
  }
}

// The image runs the build as `node dist/cli/main.js serve`; bin/newsrec.mjs imports this module and calls main itself.
if (isEntry()) await main(process.argv);
