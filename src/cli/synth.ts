import type { Command } from "commander";
import { writeCorpus } from "../synth/corpus.ts";
import { intOption } from "./options.ts";

export function synthCommand(program: Command): void {
  program
    .command("synth")
    .description("write a synthetic MIND-format corpus (OUT/train and OUT/valid)")
    .requiredOption("--out <dir>", "output folder")
    .option("--news <n>", "number of news items", intOption("--news", 1, 10_000_000), 20_000)
    .option("--users <n>", "number of users", intOption("--users", 1, 10_000_000), 8_000)
    .option("--seed <n>", "random seed", intOption("--seed", 0, 2 ** 32 - 1), 1)
    .option("--noise <p>", "share of off-interest clicks", parseFloat, 0.2)
    .option(
      "--unlabeled-users <n>",
      "more users with a history and no impression, written to OUT/train/histories.tsv (for pre-training)",
      intOption("--unlabeled-users", 0, 10_000_000),
      0,
    )
    .option(
      "--entities <n>",
      "named entities (teams, people, places) that news mention across categories and users follow",
      intOption("--entities", 0, 100_000),
      0,
    )
    .action(async (o: { out: string; news: number; users: number; seed: number; noise: number; unlabeledUsers: number; entities: number }) => {
      if (!(o.noise >= 0 && o.noise <= 1)) throw new Error("--noise must be between 0 and 1");
      if (o.news < 20) throw new Error("--news must be at least 20 (the corpus is split by time into three parts)");
      const t0 = performance.now();
      const s = await writeCorpus(o);
      const secs = (performance.now() - t0) / 1000;
      process.stderr.write(
        `wrote ${s.news} news, ${s.users} users, ${s.trainImpressions} train and ${s.validImpressions} valid impressions` +
          `${s.unlabeledUsers ? `, ${s.unlabeledUsers} unlabeled histories` : ""}${s.entities ? `, ${s.entities} entities` : ""} to ${o.out} in ${secs.toFixed(1)} s\n`,
      );
    });
}
