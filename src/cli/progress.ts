/** A progress bar with rate and ETA on a terminal; plain periodic lines otherwise (CI logs). */
import cliProgress from "cli-progress";

export interface Progress {
  update(done: number): void;
  stop(): void;
}

export function progress(label: string, total: number): Progress {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {percentage}% {value}/{total} {rate}/s ETA {eta_formatted}`, stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    const t0 = performance.now();
    bar.start(total, 0, { rate: "0" });
    return {
      update: (done) => bar.update(done, { rate: (done / Math.max((performance.now() - t0) / 1000, 1e-3)).toFixed(0) }),
      stop: () => bar.stop(),
    };
  }
  const t0 = performance.now();
  let last = 0;
  const line = (done: number) => {
    const secs = (performance.now() - t0) / 1000;
    const rate = done / Math.max(secs, 1e-3);
    const eta = rate > 0 ? (total - done) / rate : 0;
    process.stderr.write(`${label}: ${done}/${total} (${rate.toFixed(0)}/s, ETA ${eta.toFixed(0)} s)\n`);
  };
  return {
    update: (done) => {
      const now = performance.now();
      if (now - last >= 5000) {
        last = now;
        line(done);
      }
    },
    stop: () => line(total),
  };
}
