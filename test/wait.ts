/**
 * Conditions a test waits on instead of time: the server's own report of what it holds. Each
 * poll is a request to /metrics, so the wait yields to the server; a condition that never
 * comes ends in the test's timeout, not in a guess.
 */

/** Requests holding an admission slot now (newsrec_in_flight_requests), by transport. */
async function inFlight(url: string, transport: "http" | "grpc" = "http"): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^newsrec_in_flight_requests\\{transport="${transport}"\\} (\\S+)$`, "m").exec(text);
  if (!m) throw new Error("newsrec_in_flight_requests is missing from /metrics");
  return Number(m[1]);
}

/** Resolves once `n` requests are admitted and unanswered. */
export async function untilInFlight(url: string, n: number): Promise<void> {
  while ((await inFlight(url)) < n);
}

/** A promise with a flag saying whether it has settled (to assert that work is still pending). */
export function tracked<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const promise = p.finally(() => (done = true));
  return { promise, settled: () => done };
}
