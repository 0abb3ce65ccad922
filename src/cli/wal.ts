import type { Command } from "commander";
import type { WalRecord } from "../catalog/wal-format.ts";
import { inspectWal, repairWal, walPath, type WalReport } from "../catalog/wal-repair.ts";

const out = (line: string) => process.stdout.write(`${line}\n`);

function describe(r: WalRecord): string {
  return r.op === "upsert" ? `upsert ${r.items.map((i) => i.meta.id).join(",")}` : `delete ${r.id}`;
}

function lostSeqs(l: WalReport["lost"][number]): string {
  const a = l.afterSeq === null ? "the start" : `seq ${l.afterSeq}`;
  const b = l.beforeSeq === null ? "the end" : `seq ${l.beforeSeq}`;
  return `between ${a} and ${b}`;
}

function print(r: WalReport, withRecords: boolean): void {
  out(
    `write-ahead log ${r.path}: ${r.bytes} bytes, ${r.format === "legacy" ? "old framing (no magic; rewritten on the server's next start)" : "current framing"}`,
  );
  const seqs = r.records.length ? `, seq ${r.records[0]!.record.seq} to ${r.lastSeq}` : "";
  out(`records: ${r.records.length} intact${seqs}; last seq: ${r.lastSeq ?? "none"}`);
  if (withRecords) for (const s of r.records) out(`  @${s.offset} seq ${s.record.seq} ${describe(s.record)}`);
  for (const l of r.lost)
    out(
      `damaged: bytes ${l.range.start}-${l.range.end} (${l.range.end - l.range.start} bytes, ${lostSeqs(l)}); intact records follow, so the server refuses to start`,
    );
  if (r.tornTail) out(`torn tail: bytes ${r.tornTail.start}-${r.tornTail.end} (a crash mid-append; never acknowledged, dropped at start)`);
}

export function walCommand(program: Command): void {
  const wal = program.command("wal").description("inspect or repair a data dir's write-ahead log (stop the server first)");
  wal
    .command("check")
    .description(
      "list the log's intact records, its last seq and any damaged byte ranges; exit 0 when the server can start on it (a torn tail at most), 1 when it is damaged",
    )
    .requiredOption("--data-dir <dir>", "the server's data dir")
    .option("--records", "print every intact record (offset, seq, operation, ids)")
    .action((o: { dataDir: string; records?: boolean }) => {
      const report = inspectWal(walPath(o.dataDir));
      print(report, !!o.records);
      if (report.damaged.length) {
        out(`damaged: run "newsrec wal repair --data-dir ${o.dataDir}" to keep every intact record`);
        process.exitCode = 1;
      } else out(report.tornTail ? "clean before the torn tail (the server drops it at start)" : "clean");
    });
  wal
    .command("repair")
    .description("keep every intact record: the damaged log is moved aside as wal.log.damaged-<time> and the repaired one written atomically")
    .requiredOption("--data-dir <dir>", "the server's data dir")
    .action((o: { dataDir: string }) => {
      const { report, movedTo } = repairWal(walPath(o.dataDir));
      print(report, false);
      if (!movedTo) {
        out("nothing to repair");
        return;
      }
      const dropped = report.damaged.reduce((n, d) => n + d.end - d.start, 0) + (report.tornTail ? report.tornTail.end - report.tornTail.start : 0);
      out(`repaired: kept ${report.records.length} records, dropped ${dropped} bytes; the original is at ${movedTo}`);
    });
}
