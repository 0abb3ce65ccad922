/** Live catalog writes: news text is encoded through the micro-batched news encoder, then indexed. */
import type { Encoders } from "../model/encoders.ts";
import type { Metrics } from "../metrics.ts";
import type { Catalog, NewsMeta } from "./store.ts";

export class NewsWriter {
  constructor(
    private readonly catalog: Catalog,
    private readonly encoders: Encoders,
    private readonly metrics: Metrics,
  ) {}

  async upsert(items: NewsMeta[]): Promise<number> {
    const vectors = await Promise.all(items.map((n) => this.encoders.encodeNews(n)));
    items.forEach((n, i) => this.catalog.upsert(n, vectors[i]!));
    this.refreshGauges();
    return items.length;
  }

  delete(id: string): boolean {
    const ok = this.catalog.delete(id);
    this.refreshGauges();
    return ok;
  }

  refreshGauges(): void {
    this.metrics.catalogItems.set(this.catalog.size);
    this.metrics.indexCapacity.set(this.catalog.index.capacity);
    this.metrics.indexDeleted.set(this.catalog.index.deletedCount);
  }
}
