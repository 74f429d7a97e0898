import fsp from 'node:fs/promises';
import type { Command } from 'commander';
import { describeInstance } from '../../instance/lifecycle.js';
import { instanceFile } from '../../store/paths.js';
import { BerthError } from '../../util/errors.js';
import { shellQuote } from '../../util/shell-quote.js';

export async function runSsh(name: string, cmd: string[]): Promise<number> {
  const v = await describeInstance(name);
  if (v.status !== 'Running' || !v.sshPort) {
    throw new BerthError('CONFLICT', `instance "${name}" is not running (${v.status.toLowerCase()})`, {
      hint: `start it with: berth start${name === 'default' ? '' : ` ${name}`}`,
    });
  }
  // ssh2 is loaded only for this command: every other command starts faster without it.
  const { loginKey, publicKeyBlob } = await import('../../guest/ssh-keys.js');
  const { SshSession } = await import('../../guest/ssh-session.js');
  const user = await loginKey(name);
  const hostKey = publicKeyBlob(await fsp.readFile(instanceFile(name, 'hostKeyPub'), 'utf8'));
  const session = await SshSession.connect({
    host: '127.0.0.1',
    port: v.sshPort,
    user: 'root',
    privateKey: user.privateKey,
    hostKey,
  });
  const stdin = process.stdin;
  const tty = Boolean(stdin.isTTY && process.stdout.isTTY);
  const pty = tty
    ? { rows: process.stdout.rows, cols: process.stdout.columns, term: process.env.TERM ?? 'xterm-256color' }
    : undefined;
  const ch = await session.execStream(cmd.length ? cmd.map(shellQuote).join(' ') : undefined, pty);
  return new Promise<number>((resolve) => {
    let code = 0;
    const onResize = () => ch.setWindow(process.stdout.rows, process.stdout.columns, 0, 0);
    if (tty) {
      stdin.setRawMode(true);
      process.stdout.on('resize', onResize);
    }
    ch.on('exit', (c: number | null, signal?: string) => {
      code = c ?? (signal ? 128 + 15 : 255);
    });
    ch.on('close', () => {
      if (tty) {
        stdin.setRawMode(false);
        process.stdout.off('resize', onResize);
      }
      stdin.unpipe(ch);
      stdin.pause();
      session.end();
      resolve(code);
    });
    ch.pipe(process.stdout, { end: false });
    ch.stderr.pipe(process.stderr, { end: false });
    if (tty || !stdin.isTTY) stdin.pipe(ch);
    if (!tty && stdin.isTTY) ch.end(); // a command run from a terminal without a pty gets no stdin
  });
}

export function registerSsh(
  program: Command,
  run: (fn: () => Promise<number | void>) => Promise<void>,
): void {
  program
    .command('ssh')
    .argument('[name]', 'instance name', 'default')
    .argument('[command...]', 'command to run (after --); a shell when omitted')
    .description('open a shell in the instance, or run one command and return its exit code')
    .action((name: string, command: string[]) => {
      // "berth ssh -- CMD…" means the default instance: everything after "--" is the command.
      const dd = process.argv.indexOf('--');
      if (dd >= 0) {
        const before = process.argv
          .slice(process.argv.indexOf('ssh') + 1, dd)
          .filter((a) => !a.startsWith('-'));
        name = before[0] ?? 'default';
        command = process.argv.slice(dd + 1);
      }
      return run(() => runSsh(name, command));
    });
}
