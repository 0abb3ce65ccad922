/**
 * When a response is over for good: it has closed (sent, or its connection cut), or its
 * connection has closed first. A pipelined response waiting behind an earlier one on the same
 * connection is not attached to the socket yet, so when the client goes away it emits neither
 * close nor finish; only the socket says so. Each listener is removed once the other fires, so
 * a long keep-alive connection gathers none.
 */
import type { ServerResponse } from "node:http";

/** One per response; its bound `end` is the listener on both the response and the socket. */
interface Watch {
  res: ServerResponse;
  done: (finished: boolean) => void;
  called: boolean;
  end: () => void;
}

function end(this: Watch): void {
  if (this.called) return;
  this.called = true;
  this.res.off("close", this.end);
  this.res.req.socket.off("close", this.end);
  this.done(this.res.writableFinished);
}

export function whenResponseEnds(res: ServerResponse, done: (finished: boolean) => void): void {
  const watch: Watch = { res, done, called: false, end };
  // A bound function rather than a closure made here: one allocation, and nothing named per request.
  watch.end = end.bind(watch);
  const socket = res.req.socket;
  if (socket.destroyed) {
    watch.end();
    return;
  }
  res.once("close", watch.end);
  socket.once("close", watch.end);
}
