import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../util/errors.js';
import { jsonRecord } from './json-record.js';
import { instanceFile } from './paths.js';

const Schema = z.object({ n: z.number(), s: z.string().optional() });

describe('jsonRecord', () => {
  let home: string;
  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-record-'));
    process.env.BERTH_HOME = home;
    fs.mkdirSync(path.join(home, 'dev'));
  });
  afterEach(() => {
    delete process.env.BERTH_HOME;
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('reads what it wrote; writes 0600 with no temp file left; absent reads as undefined', async () => {
    const r = jsonRecord('runtime', Schema);
    expect(await r.read('dev')).toBeUndefined();
    await r.write('dev', { n: 1, s: 'x' });
    expect(await r.read('dev')).toEqual({ n: 1, s: 'x' });
    expect(fs.statSync(instanceFile('dev', 'runtime')).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.join(home, 'dev'))).toEqual(['runtime.json']);
    await r.remove('dev');
    expect(await r.read('dev')).toBeUndefined();
  });

  it('refuses to write a value that does not match the schema', async () => {
    const r = jsonRecord('runtime', Schema);
    await expect(r.write('dev', { n: 'one' } as unknown as { n: number })).rejects.toThrow();
    expect(fs.existsSync(instanceFile('dev', 'runtime'))).toBe(false);
  });

  it('a damaged file: an error naming the file and the field, or absent when lenient', async () => {
    fs.writeFileSync(instanceFile('dev', 'runtime'), '{"n": "one"}');
    const strict = jsonRecord('runtime', Schema);
    const err = await strict.read('dev').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('BAD_CONFIG');
    expect((err as BerthError).message).toContain(`${instanceFile('dev', 'runtime')}: n:`);
    fs.writeFileSync(instanceFile('dev', 'runtime'), '{not json');
    await expect(strict.read('dev')).rejects.toThrow(/not valid JSON/);
    expect(await jsonRecord('runtime', Schema, { lenient: true }).read('dev')).toBeUndefined();
  });
});
