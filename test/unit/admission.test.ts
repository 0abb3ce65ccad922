import { test } from "node:test";
import assert from "node:assert/strict";
import { Admission } from "../../src/api/admission.ts";

test("a slot is given back once, however many ways its request ends", () => {
  const a = new Admission(2);
  const t = a.tryEnter("http")!;
  t.release();
  t.abandon();
  t.release();
  assert.equal(a.inFlight, 0);
  assert.equal(t.signal.aborted, false, "a request already answered is not aborted by a late close");
  const u = a.tryEnter("grpc")!;
  u.abandon();
  assert.equal(u.signal.aborted, true);
  assert.equal((u.signal.reason as { code?: string }).code, "CANCELLED");
  assert.equal(a.inFlight, 0);
});

test("wedged means full for the whole window with nothing freed, not a burst after a quiet spell", () => {
  let now = 0;
  const a = new Admission(2, () => now);
  now = 60_000; // a long quiet spell
  const held = [a.tryEnter("http")!, a.tryEnter("http")!];
  assert.equal(a.tryEnter("http"), null, "full");
  assert.equal(a.wedged(1000), false, "full just now");
  now += 999;
  assert.equal(a.wedged(1000), false);
  now += 2;
  assert.equal(a.wedged(1000), true, "full for over a second with nothing freed");
  held[0]!.release();
  assert.equal(a.wedged(1000), false, "not full");
  const again = a.tryEnter("grpc")!;
  now += 500;
  assert.equal(a.wedged(1000), false, "full again for only 500 ms");
  now += 600;
  assert.equal(a.wedged(1000), true);
  again.release();
  held[1]!.release();
  assert.equal(a.inFlight, 0);
});
