import { Command, CommanderError } from "commander";
import { embedCommand } from "./embed.ts";
import { evalCommand } from "./eval.ts";
import { serveCommand } from "./serve.ts";
import { synthCommand } from "./synth.ts";
import { walCommand } from "./wal.ts";

export async function main(argv: string[]): Promise<void> {
  const program = new Command("newsrec")
    .description("news-recommendation inference server and tools")
    .exitOverride()
    .showHelpAfterError(false);
  serveCommand(program);
  evalCommand(program);
  embedCommand(program);
  synthCommand(program);
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
