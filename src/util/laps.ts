/** A breakdown of where time went: each lap(name) records the ms since the previous lap (or the start). */
export function laps(now: () => number = Date.now): {
  breakdown: Record<string, number>;
  lap(name: string): void;
} {
  const breakdown: Record<string, number> = {};
  let mark = now();
  return {
    breakdown,
    lap(name) {
      const t = now();
      breakdown[name] = t - mark;
      mark = t;
    },
  };
}
