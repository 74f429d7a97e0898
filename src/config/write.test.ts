import { describe, expect, it } from 'vitest';
import { BerthError } from '../util/errors.js';
import { parseInstanceConfig } from './load.js';
import { checkChange, newConfigText, updatedConfigText, validateFlags } from './write.js';

describe('config writing', () => {
  it('writes a new file from defaults and flags that parses back to the same config', () => {
    const { text, config } = newConfigText({ cpus: 1, memory: '1GiB' });
    expect(text).toMatch(/^# berth instance configuration/);
    expect(text).toMatch(/memory: 1GiB/);
    expect(parseInstanceConfig(text, 'f')).toEqual(config);
  });

  it("writes berth's own sections (a cluster node's) so that they parse back", () => {
    const cluster = {
      name: 'c',
      segment: '239.255.3.5:20006',
      address: '10.213.42.12',
      prefix: 24,
      mac: '52:54:00:d5:2a:0c',
      registry: '10.213.42.11',
      serveRegistry: false,
      role: 'worker' as const,
    };
    const { text, config } = newConfigText({ cpus: 1, sections: { cluster, autoForward: 'none' } });
    expect(config.cluster).toEqual(cluster);
    expect(parseInstanceConfig(text, 'f')).toEqual(config);
    expect(parseInstanceConfig(text, 'f').autoForward).toBe('none');
    expect(() => parseInstanceConfig(text.replace('239.255.3.5:20006', '10.0.0.1:1'), 'f')).toThrow(
      /cluster\.segment.*239\.x\.y\.z/,
    );
  });

  it('reports a bad flag as a flag', () => {
    expect(() => validateFlags({ memory: 'huge' })).toThrow(/^--memory: "huge" is not a size/);
    expect(() => validateFlags({ accel: 'warp' })).toThrow(/^--accel:/);
    expect(() => validateFlags({ imageSha256: 'ab' })).toThrow(/--image-sha256 needs --image/);
  });

  it('keeps comments when flags update a file', () => {
    const text = '# mine\ncpus: 1 # few\nmemory: 1GiB\n';
    const r = updatedConfigText(text, 'f', { cpus: 2 });
    expect(r.changed).toBe(true);
    expect(r.text).toContain('# mine');
    expect(r.after.cpus).toBe(2);
    expect(updatedConfigText(text, 'f', {}).changed).toBe(false);
  });

  it('refuses an arch change and a disk shrink', () => {
    const after = parseInstanceConfig('disk: 10GiB\narch: aarch64\n', 'f');
    expect(() => checkChange({ arch: 'x86_64' }, after, 'f')).toThrow(/cannot change to aarch64/);
    const small = parseInstanceConfig('disk: 10GiB\n', 'f');
    const e = (() => {
      try {
        checkChange({ arch: small.arch, disk: 20 * 1024 ** 3 }, small, 'f');
      } catch (err) {
        return err as BerthError;
      }
    })();
    expect(e?.code).toBe('BAD_CONFIG');
    expect(e?.message).toMatch(/can grow, not shrink/);
    expect(() => checkChange({ arch: small.arch, disk: 5 * 1024 ** 3 }, small, 'f')).not.toThrow();
  });
});
