/**
 * A request's deadline over work that may never finish on its own (a search in a worker that
 * has stopped answering): the caller gets DEADLINE_EXCEEDED at the deadline, and the work's own
 * outcome, whenever it comes, is dropped.
 */
import { NewsrecError } from "../errors.ts";

/** TIMEOUT_MAX of node's timers: a deadline further off is no deadline. */
const NEVER = 2 ** 31 - 1;

/** `work`'s outcome, or DEADLINE_EXCEEDED once performance.now() passes `deadline`; `what`: what was waited for. */
export function beforeDeadline<T>(work: Promise<T>, deadline: number | undefined, what: string): Promise<T> {
  if (deadline === undefined) return work;
  const left = deadline - performance.now();
  if (!(left < NEVER)) return work;
  return new Promise<T>((resolve, reject) => {
    // Whole milliseconds: node keeps one list of timers per duration, and most requests share one.
    const timer = setTimeout(
      () => reject(new NewsrecError("DEADLINE_EXCEEDED", `the request deadline passed while waiting for ${what}`)),
      Math.max(0, Math.ceil(left)),
    );
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
