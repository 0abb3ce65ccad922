/**
 * Readiness that tells the truth: the server is ready only when it can do its job. Each check
 * says ok or why not; /readyz, gRPC health and the newsrec_ready / newsrec_health_check metrics
 * all read this one report.
 */
export type CheckResult = { ok: true } | { ok: false; reason: string };

export interface HealthReport {
  ready: boolean;
  /** Why the server is not ready (empty when it is). */
  reasons: string[];
  checks: Record<string, "ok" | string>;
}

export function report(checks: Record<string, CheckResult>): HealthReport {
  const out: Record<string, "ok" | string> = {};
  const reasons: string[] = [];
  for (const [name, c] of Object.entries(checks)) {
    out[name] = c.ok ? "ok" : c.reason;
    if (!c.ok) reasons.push(`${name}: ${c.reason}`);
  }
  return { ready: reasons.length === 0, reasons, checks: out };
}

export const OK: CheckResult = { ok: true };
