import { describe, expect, it } from 'vitest';
import { parseVerbose } from './start.js';

// What `berth start --cold --verbose --no-activate` writes to stderr (src/cli/commands/start.ts).
const STDERR = `[  0.0s] starting "bench"
[  0.1s] booting the VM (tcg)
[ 10.2s] engine ready
instance "bench" is running
boot breakdown:
  image    0.0 s
  disk     0.1 s
  guest    9.9 s
  engine   0.0 s
inside the guest (from its kernel start):
  kernel   1.6 s
  dockerd  6.2 s
next:
  docker --context berth-bench ps
`;

describe('parseVerbose', () => {
  it("splits the host's phases from the guest's, in ms", () => {
    expect(parseVerbose(STDERR)).toEqual({
      host: { image: 0, disk: 100, guest: 9900, engine: 0 },
      guest: { kernel: 1600, dockerd: 6200 },
    });
  });

  it('gives no guest phases when the guest recorded none', () => {
    const hostOnly = STDERR.slice(0, STDERR.indexOf('inside the guest'));
    expect(parseVerbose(hostOnly).guest).toEqual({});
  });
});
