/**
 * A whole number (milliseconds, bytes) from an environment variable, within [min, max]; anything else (unset,
 * not digits, out of range) is the default. The host agent's timers and caps take their test settings this way,
 * so that no test waits out a production interval.
 */
export function intFromEnv(
  env: NodeJS.ProcessEnv,
  name: string,
  dflt: number,
  range: { min: number; max: number },
): number {
  const v = env[name];
  if (!v || !/^\d+$/.test(v)) return dflt;
  const n = Number(v);
  return n >= range.min && n <= range.max ? n : dflt;
}
