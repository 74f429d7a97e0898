import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentLastWords, prepareInstance } from './lifecycle.js';
import { acquireLock, listInstances, validateName } from '../store/instance-store.js';
import { instanceFile } from '../store/paths.js';

let home: string;
beforeEach(async () => {
  home = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-unit-'));
  process.env.BERTH_HOME = path.join(home, 'berth');
});
afterEach(async () => {
  delete process.env.BERTH_HOME;
  await fsp.rm(home, { recursive: true, force: true });
});

const mode = (p: string) => fs.statSync(p).mode & 0o777;

describe('instance store', () => {
  it('creates BERTH_HOME and instance dirs 0700 and the config 0600', async () => {
    const r = await prepareInstance('dev', { cpus: 1 });
    expect(r.created).toBe(true);
    expect(mode(process.env.BERTH_HOME!)).toBe(0o700);
    expect(mode(path.join(process.env.BERTH_HOME!, 'dev'))).toBe(0o700);
    expect(mode(instanceFile('dev', 'config'))).toBe(0o600);
    expect(await listInstances()).toEqual(['dev']);
  });

  it('writes nothing when a flag is bad', async () => {
    await expect(prepareInstance('dev', { memory: 'lots' })).rejects.toThrow(/--memory/);
    expect(fs.existsSync(path.join(process.env.BERTH_HOME!, 'dev'))).toBe(false);
  });

  it('leaves the file untouched when a flag would shrink the disk', async () => {
    await prepareInstance('dev', { disk: '20GiB' });
    const before = await fsp.readFile(instanceFile('dev', 'config'), 'utf8');
    await expect(prepareInstance('dev', { disk: '10GiB' })).rejects.toThrow(/can grow, not shrink/);
    expect(await fsp.readFile(instanceFile('dev', 'config'), 'utf8')).toBe(before);
  });

  it('validates names', () => {
    expect(() => validateName('Dev')).toThrow(/invalid instance name/);
    expect(() => validateName('_config')).toThrow();
    expect(() => validateName('dev-2')).not.toThrow();
  });

  it("locks exclusively and takes over a dead owner's lock", async () => {
    await fsp.mkdir(process.env.BERTH_HOME!, { recursive: true });
    const file = path.join(process.env.BERTH_HOME!, 'x.lock');
    const release = await acquireLock(file);
    expect(mode(file)).toBe(0o600);
    await release();
    await fsp.writeFile(file, '999999999'); // a pid that cannot be alive
    const again = await acquireLock(file);
    await again();
    // A live owner (pid 1 is always alive) keeps its lock.
    await fsp.writeFile(file, '1');
    await expect(acquireLock(file)).rejects.toThrow(/already working on this instance/);
  });

  it('lets exactly one of many processes racing for a lock have it', async () => {
    await fsp.mkdir(process.env.BERTH_HOME!, { recursive: true });
    const file = path.join(process.env.BERTH_HOME!, 'race.lock');
    const store = new URL('../store/instance-store.ts', import.meta.url).href;
    // Each racer tries once and, if it got the lock, holds it a moment so the others meet a live owner.
    const script = `
      const { acquireLock } = await import(${JSON.stringify(store)});
      while (Date.now() < Number(process.env.AT)) {} // all start at once, to the millisecond
      try { const r = await acquireLock(${JSON.stringify(file)}); process.stdout.write('won');
            await new Promise((ok) => setTimeout(ok, 1500)); await r(); }
      catch (e) { process.stdout.write(/already working/.test(e.message) ? 'lost' : 'error: ' + e.message); }`;
    for (let round = 0; round < 3; round++) {
      const env = { AT: String(Date.now() + 3000) };
      const outs = await Promise.all(
        Array.from({ length: 6 }, () =>
          execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env }).then(
            (r) => r.stdout,
          ),
        ),
      );
      expect(outs.filter((o) => o === 'won')).toHaveLength(1);
      expect(outs.filter((o) => o === 'lost')).toHaveLength(5);
      expect(fs.existsSync(file)).toBe(false);
      // nothing left beside it
      expect((await fsp.readdir(path.dirname(file))).filter((f) => f.startsWith('race.lock'))).toEqual([]);
    }
  }, 60000);
});

describe('agentLastWords', () => {
  it("a start whose agent went away says the agent's last warnings and stderr, printable; nothing when silent", async () => {
    await fsp.mkdir(path.join(process.env.BERTH_HOME!, 'dev'), { recursive: true });
    expect(await agentLastWords('dev')).toBeUndefined();
    await fsp.writeFile(
      instanceFile('dev', 'agentLog'),
      [
        JSON.stringify({ level: 30, msg: 'booting the VM' }),
        'not json',
        JSON.stringify({ level: 50, msg: 'the guest went away', err: { message: 'EPIPE' } }),
      ].join('\n'),
    );
    await fsp.writeFile(
      instanceFile('dev', 'agentStdio'),
      'host agent: TypeError: x is \x1b]52;c;AAAA\x07undefined\n',
    );
    expect(await agentLastWords('dev')).toBe(
      'agent log: the guest went away: EPIPE\nagent stderr: host agent: TypeError: x is ]52;c;AAAAundefined',
    );
  });
});
