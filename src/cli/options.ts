import { InvalidArgumentError } from "commander";

/** A commander parser for an integer option within [lo, hi]. */
export function intOption(name: string, lo: number, hi: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new InvalidArgumentError(`${name} must be an integer from ${lo} to ${hi}`);
    return n;
  };
}
