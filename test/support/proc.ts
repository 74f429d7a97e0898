/** Looking at host processes through /proc (Linux). */
import fs from 'node:fs';
import fsp from 'node:fs/promises';

/** Processes whose command line contains `needle` (like pgrep -f). */
export async function processesMatching(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = (await fsp.readFile(`/proc/${d}/cmdline`, 'utf8')).split('\0').join(' ');
      if (cmd.includes(needle)) out.push(Number(d));
    } catch {
      // the process exited while we looked
    }
  }
  return out;
}

/** The pid in a pid file, or undefined when there is none. */
export function pidFromFile(file: string): number | undefined {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

/** A process's resident set size in KiB (VmRSS), or undefined when it is gone. */
export function rssKiB(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
