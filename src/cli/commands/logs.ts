import fsp from 'node:fs/promises';
import type { Command } from 'commander';
import { requireInstance } from '../../store/instance-store.js';
import { instanceFile } from '../../store/paths.js';
import { BerthError } from '../../util/errors.js';
import { systemClock } from '../../util/retry.js';
import { printable, readTail } from '../../util/log-files.js';

type Source = 'agent' | 'serial';

function formatAgentLine(line: string): string {
  try {
    const o = JSON.parse(line) as { time?: string; level?: number; msg?: string; err?: { message?: string } };
    const lvl = o.level && o.level >= 50 ? 'ERROR' : o.level && o.level >= 40 ? 'WARN ' : 'INFO ';
    return `${o.time ?? ''} ${lvl} ${o.msg ?? ''}${o.err?.message ? `: ${o.err.message}` : ''}`;
  } catch {
    return line;
  }
}

async function follow(
  file: string,
  from: number,
  emit: (chunk: string) => void,
  signal: AbortSignal,
): Promise<void> {
  let pos = from;
  while (!signal.aborted) {
    const st = await fsp.stat(file).catch(() => undefined);
    if (st && st.size < pos) pos = 0; // truncated (new boot): start over
    if (st && st.size > pos) {
      // At most 1 MiB a read: a guest writing fast costs this process no more memory.
      const fh = await fsp.open(file, 'r');
      const buf = Buffer.alloc(Math.min(st.size - pos, 1 << 20));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      await fh.close();
      pos += bytesRead;
      emit(buf.subarray(0, bytesRead).toString('utf8'));
      if (pos < st.size) continue;
    }
    await systemClock.sleep(300, signal).catch(() => undefined);
  }
}

export function registerLogs(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  program
    .command('logs')
    .argument('[name]', 'instance name', 'default')
    .description('show the host agent log and the guest serial console')
    .option('-f, --follow', 'keep printing new lines')
    .option('--source <source>', 'only one source: agent|serial')
    .action((name: string, o: { follow?: boolean; source?: string }) =>
      run(async () => {
        await requireInstance(name);
        if (o.source && o.source !== 'agent' && o.source !== 'serial') {
          throw new BerthError('USAGE', `--source: "${o.source}" is not agent or serial`);
        }
        const sources: Source[] = o.source ? [o.source as Source] : ['agent', 'serial'];
        const files: Record<Source, string> = {
          agent: instanceFile(name, 'agentLog'),
          serial: instanceFile(name, 'serialLog'),
        };
        const sizes: Record<string, number> = {};
        for (const s of sources) {
          // The last 256 KiB (the files are capped, but may still be large): read by seeking.
          const tail = await readTail(files[s], 256 * 1024);
          // A log cut for its size (host-agent.ts) left its tail in FILE.1: shown first.
          const before =
            tail.size < 256 * 1024 ? await readTail(`${files[s]}.1`, 256 * 1024 - tail.size) : undefined;
          const joined = (before?.text ?? '') + tail.text;
          const text = s === 'serial' ? printable(joined) : joined;
          sizes[s] = tail.size;
          process.stdout.write(`==> ${s === 'agent' ? 'host agent' : 'guest console'} (${files[s]}) <==\n`);
          const lines = text.split('\n');
          process.stdout.write(
            (s === 'agent' ? lines.map((l) => (l ? formatAgentLine(l) : l)) : lines).join('\n'),
          );
          if (!text.endsWith('\n') && text) process.stdout.write('\n');
        }
        if (!o.follow) return;
        const ac = new AbortController();
        process.once('SIGINT', () => ac.abort());
        await Promise.all(
          sources.map((s) =>
            follow(
              files[s],
              sizes[s]!,
              (chunk) => {
                const out =
                  s === 'agent'
                    ? chunk
                        .split('\n')
                        .map((l) => (l ? `[agent] ${formatAgentLine(l)}` : l))
                        .join('\n')
                    : printable(chunk);
                process.stdout.write(out);
              },
              ac.signal,
            ),
          ),
        );
      }),
    );
}
