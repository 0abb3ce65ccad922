/**
 * What the transports and the app need of a catalog writer, whichever log makes writes
 * durable: the local write-ahead log (writer.ts) or a replicated catalog log shared by every
 * replica (replication/replicated-writer.ts).
 */
import type { NewsMeta } from "./store.ts";
import type { WriteHealth } from "./writer.ts";

/** The replicated catalog log as /readyz reports it. */
export interface CatalogLogStatus {
  stream: string;
  /** False while JetStream cannot take writes: the catalog is read-only and reads go on. */
  writable: boolean;
  /** Why writes are refused, when they are. */
  readOnlyReason?: string;
  appliedSequence: number;
  lagMessages: number;
  lagSeconds: number;
}

export interface CatalogWriter {
  upsert(items: NewsMeta[]): Promise<number>;
  /** Resolves false when the item is not in the catalog. */
  delete(id: string): Promise<boolean>;
  compact(): Promise<boolean>;
  /** Whether this replica can do its job (readiness). */
  health(): WriteHealth;
  readonly lastSnapshotAt: number;
  readonly walBytes: number;
  refreshGauges(): void;
  close(): Promise<void>;
  /** Present when writes go through a replicated catalog log. */
  logStatus?(): CatalogLogStatus;
}
