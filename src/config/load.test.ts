import { describe, expect, it } from 'vitest';
import { BerthError } from '../util/errors.js';
import { parseInstanceConfig } from './load.js';

function errOf(text: string): BerthError {
  try {
    parseInstanceConfig(text, '/x/berth.yaml');
  } catch (e) {
    return e as BerthError;
  }
  throw new Error('expected an error');
}

describe('parseInstanceConfig', () => {
  it('fills defaults for an empty file', () => {
    const c = parseInstanceConfig('', 'f.yaml');
    expect(c.cpus).toBeGreaterThanOrEqual(1);
    expect(c.memory).toBe(2 * 1024 ** 3);
    expect(c.disk).toBe(60 * 1024 ** 3);
    expect(c.accel).toBe('auto');
    expect(c.runtime).toBe('docker');
  });

  it('parses sizes with units', () => {
    const c = parseInstanceConfig('memory: 4GiB\ndisk: 100G\ncpus: 3\n', 'f.yaml');
    expect(c.memory).toBe(4 * 1024 ** 3);
    expect(c.disk).toBe(100 * 1024 ** 3);
    expect(c.cpus).toBe(3);
  });

  it('names file, line and field of an unknown key', () => {
    const e = errOf('cpus: 2\nmemroy: 4GiB\n');
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toBe('/x/berth.yaml:2:1: memroy: unknown field "memroy"');
    expect(e.exitCode).toBe(65);
  });

  it('names the line of a bad value', () => {
    const e = errOf('cpus: 2\n\nmemory: lots\n');
    expect(e.message).toMatch(/^\/x\/berth\.yaml:3:9: memory: "lots" is not a size/);
  });

  it('reports YAML syntax errors with a line', () => {
    const e = errOf('cpus: 2\nmemory: [4GiB\n');
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toMatch(/^\/x\/berth\.yaml:\d+:\d+: invalid YAML/);
  });

  it('rejects a non-mapping document', () => {
    expect(errOf('- a\n- b\n').message).toMatch(/must be a mapping/);
  });

  it('rejects wrong types and enums', () => {
    expect(errOf('cpus: two\n').message).toMatch(/:1:7: cpus: Expected number/);
    expect(errOf('accel: warp\n').message).toMatch(/:1:8: accel: Invalid enum value/);
    expect(errOf('runtime: podman\n').message).toMatch(/runtime/);
  });

  it('locates nested fields and requires a digest for image urls', () => {
    const e = errOf('cpus: 1\nimage:\n  url: http://example.test/i.tar\n');
    expect(e.message).toMatch(/image\.sha256: an image url needs its sha256/);
    const e2 = errOf('image:\n  path: /a\n  colour: red\n');
    expect(e2.message).toBe('/x/berth.yaml:3:3: image.colour: unknown field "colour"');
  });

  it('rejects too little memory', () => {
    expect(errOf('memory: 1MiB\n').message).toMatch(/memory must be at least 256 MiB/);
  });
});

describe('binfmt setting', () => {
  it('defaults to on, accepts off or a list, rejects unknown arches', async () => {
    const { binfmtList } = await import('./schema.js');
    expect(parseInstanceConfig('', 'f').binfmt).toBe(true);
    expect(binfmtList('x86_64', true)).toEqual(['aarch64', 'arm', 'riscv64', 'ppc64le', 's390x']);
    expect(binfmtList('x86_64', false)).toEqual([]);
    const c = parseInstanceConfig('binfmt: [aarch64, x86_64]\n', 'f');
    expect(binfmtList('x86_64', c.binfmt as never)).toEqual(['aarch64']);
    expect(errOf('binfmt: [mips]\n').message).toMatch(
      /:1:9: binfmt: must be true, false or a list of: aarch64, arm/,
    );
  });
});

describe('docker: settings', () => {
  it('pass daemon.json settings berth knows, with their shapes checked', () => {
    const c = parseInstanceConfig(
      'docker:\n  insecure-registries: ["host.berth.internal:5000"]\n  features: { buildkit: true }\n  debug: true\n',
      'f',
    );
    expect(c.docker).toEqual({
      'insecure-registries': ['host.berth.internal:5000'],
      features: { buildkit: true },
      debug: true,
    });
    expect(parseInstanceConfig('', 'f').docker).toEqual({});
  });

  it('refuse what berth owns and what dockerd does not know, naming the line of the key', () => {
    const e = errOf('cpus: 1\ndocker:\n  data-root: /x\n  registry-mirror: [a]\n');
    expect(e.message).toBe(
      '/x/berth.yaml:3:3: docker.data-root: set by berth, not here: ' +
        "the engine's data lives on the instance's data disk",
    );
    expect(e.details).toMatch(/^\/x\/berth.yaml:4:3: docker.registry-mirror: not a Docker Engine setting/);
    expect(e.hint).toMatch(/daemon.json settings/);
  });

  it('refuse a wrong shape at the value, and the image store in features', () => {
    expect(errOf('docker:\n  debug: "yes"\n').message).toMatch(
      /berth.yaml:2:10: docker.debug: Expected boolean/,
    );
    expect(errOf('docker:\n  features: { containerd-snapshotter: false }\n').message).toMatch(
      /docker.features: containerd-snapshotter is set by berth/,
    );
  });
});

describe('hostile YAML', () => {
  it('an alias bomb is a configuration error naming the file, not a crash', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      '',
    ].join('\n');
    const e = errOf(bomb);
    expect(e.code).toBe('BAD_CONFIG');
    expect(e.message).toMatch(/^\/x\/berth.yaml:1:1: invalid YAML: .*alias/i);
  });

  it('__proto__ and constructor are unknown fields, not prototype changes', () => {
    expect(errOf('__proto__: { cpus: 64 }\n').message).toMatch(/unknown field "__proto__"/);
    expect(errOf('constructor: 1\n').message).toMatch(/unknown field "constructor"/);
    expect(({} as Record<string, unknown>).cpus).toBeUndefined();
  });
});
