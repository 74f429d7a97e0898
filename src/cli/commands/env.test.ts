import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { envLines } from './env.js';

describe('berth env lines', () => {
  const vars = {
    DOCKER_HOST: "unix:///home/o'neil/my dir/.berth/default/docker.sock",
    DOCKER_CONTEXT: null,
    X: '/run/docker.sock',
  };

  it('sh: a shell that evals them gets the values back unchanged, and the unset', () => {
    const out = execFileSync(
      'sh',
      [
        '-c',
        `DOCKER_CONTEXT=old; ${envLines(vars, 'sh')}; printf '%s|%s|%s' "$DOCKER_HOST" "\${DOCKER_CONTEXT-unset}" "$X"`,
      ],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toBe(`${vars.DOCKER_HOST}|unset|/run/docker.sock`);
  });

  it('fish: set -gx / set -e, with fish quoting', () => {
    expect(envLines(vars, 'fish')).toBe(
      [
        "set -gx DOCKER_HOST 'unix:///home/o\\'neil/my dir/.berth/default/docker.sock'",
        'set -e DOCKER_CONTEXT',
        'set -gx X /run/docker.sock',
      ].join('\n'),
    );
  });
});
