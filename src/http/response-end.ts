/**
 * When a response is over for good: it has closed (sent, or its connection cut), or its
 * connection has closed first. A pipelined response waiting behind an earlier one on the same
 * connection is not attached to the socket yet, so when the client goes away it emits neither
 * close nor finish; only the socket says so. Each listener is removed once the other fires, so
 * a long keep-alive connection gathers none.
 */
import type { ServerResponse } from "node:http";

export function whenResponseEnds(res: ServerResponse, done: (finished: boolean) => void): void {
  const socket = res.req.socket;
  let called = false;
  const end = () => {
    if (called) return;
    called = true;
    res.off("close", end);
    socket.off("close", end);
    done(res.writableFinished);
  };
  if (socket.destroyed) {
    end();
    return;
  }
  res.once("close", end);
  socket.once("close", end);
}
