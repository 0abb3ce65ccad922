/**
 * A Prometheus histogram over one label whose values are all known in advance (the rank stages),
 * observed with no per-call work but a bucket search and three additions. prom-client's own
 * observe builds a label object and a hash string and turns the bucket bound into a property key
 * on every call (0.3 µs measured alone, about twice that on a loaded server): four stages a
 * request made it a few percent of a cache-hit rank's main-thread time. This keeps each series'
 * counts in a Float64Array and is registered in prom-client's registry as a metric like its own,
 * which writes the exposition (the same lines prom-client's Histogram writes).
 */
import type client from "prom-client";

export class BoundHistogram<V extends string> {
  readonly type = "histogram";
  /** Per label value: a count per bucket (not cumulative), then the +Inf count, then the sum. */
  private readonly series: Float64Array[];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label: string,
    private readonly values: readonly V[],
    private readonly bounds: readonly number[],
    registry: client.Registry,
  ) {
    this.series = values.map(() => new Float64Array(bounds.length + 2));
    registry.registerMetric(this as unknown as client.Metric);
  }

  /** The index of a label value, for observe (made once per value, not per call). */
  indexOf(value: V): number {
    const i = this.values.indexOf(value);
    if (i < 0) throw new Error(`${this.name}: no ${this.label} "${value}"`);
    return i;
  }

  observe(index: number, value: number): void {
    const s = this.series[index]!;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    s[i]!++;
    s[b.length + 1]! += value;
  }

  reset(): void {
    for (const s of this.series) s.fill(0);
  }

  /** prom-client's MetricObjectWithValues for a histogram: cumulative buckets, +Inf, sum and count per series that has any. */
  get(): {
    name: string;
    help: string;
    type: "histogram";
    aggregator: "sum";
    values: { labels: Record<string, string | number>; value: number; metricName: string }[];
  } {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    const n = this.bounds.length;
    this.series.forEach((s, v) => {
      let count = 0;
      for (let i = 0; i <= n; i++) count += s[i]!;
      if (count === 0) return;
      const labels = { [this.label]: this.values[v]! };
      let acc = 0;
      for (let i = 0; i < n; i++) {
        acc += s[i]!;
        values.push({ labels: { le: this.bounds[i]!, ...labels }, value: acc, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { le: "+Inf", ...labels }, value: count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: s[n + 1]!, metricName: `${this.name}_sum` });
      values.push({ labels, value: count, metricName: `${this.name}_count` });
    });
    return { name: this.name, help: this.help, type: this.type, aggregator: "sum", values };
  }
}
