/**
 * Offline inspection and repair of a data dir's write-ahead log (newsrec wal check / repair).
 * A repair keeps every intact record, never edits the damaged log in place (it is kept as
 * wal.log.damaged-<time>), and swaps the repaired log in atomically: a crash at any point
 * leaves either the damaged log or the repaired one at wal.log.
 */
import { existsSync, linkSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { replaceAtomicallySync } from "./disk.ts";
import { encodeLog, scanWal, type ByteRange, type WalScan } from "./wal-format.ts";

export interface WalReport extends WalScan {
  path: string;
  bytes: number;
  lastSeq: number | null;
  /** For each damaged range, the sequence numbers that lie between its intact neighbours. */
  lost: { range: ByteRange; afterSeq: number | null; beforeSeq: number | null }[];
}

export function walPath(dataDir: string): string {
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) throw new Error(`data dir ${dataDir} does not exist or is not a folder`);
  return join(dataDir, "wal.log");
}

export function inspectWal(path: string): WalReport {
  const buf = existsSync(path) ? readFileSync(path) : Buffer.alloc(0);
  const scan = scanWal(buf);
  const lost = scan.damaged.map((range) => {
    const before = scan.records.filter((r) => r.end <= range.start).pop();
    const after = scan.records.find((r) => r.offset >= range.end);
    return { range, afterSeq: before?.record.seq ?? null, beforeSeq: after?.record.seq ?? null };
  });
  return { ...scan, path, bytes: buf.length, lastSeq: scan.records.at(-1)?.record.seq ?? null, lost };
}

export interface RepairResult {
  report: WalReport;
  /** Where the damaged original was kept, or null when nothing needed repair. */
  movedTo: string | null;
}

export function repairWal(path: string, now = new Date()): RepairResult {
  const report = inspectWal(path);
  if (!report.damaged.length && !report.tornTail && report.format === "framed") return { report, movedTo: null };
  const movedTo = `${path}.damaged-${now.toISOString().replace(/[:.]/g, "-")}`;
  // A second name for the original first, so wal.log is never absent: then the repaired log
  // replaces it in one rename.
  linkSync(path, movedTo);
  replaceAtomicallySync(path, encodeLog(report.records.map((r) => r.record)));
  return { report, movedTo };
}
