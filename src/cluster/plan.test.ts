import { describe, expect, it } from 'vitest';
import { clusterNodeSchema } from '../config/schema.js';
import { BerthError } from '../util/errors.js';
import { checkCreate, newSegment, nodeIndex, nodeName, nodeSection, segmentOf } from './plan.js';

function errorOf(fn: () => void): BerthError {
  try {
    fn();
  } catch (err) {
    return err as BerthError;
  }
  throw new Error('no error');
}

describe('cluster plan', () => {
  it('names nodes NAME-i and tells its own nodes from look-alikes', () => {
    expect(nodeName('web', 3)).toBe('web-3');
    expect(nodeIndex('web', 'web-3')).toBe(3);
    expect(nodeIndex('web', 'web-x')).toBeUndefined();
    expect(nodeIndex('web', 'webby-1')).toBeUndefined();
    expect(nodeIndex('web', 'web-api-1')).toBeUndefined();
  });

  it('refuses bad input with exit 64 and a hint, before anything exists', () => {
    const ok = { name: 'c', nodes: 3, managers: 1 };
    for (const [req, msg] of [
      [{ ...ok, nodes: 0 }, /--nodes 0: a cluster has 1 to 9 nodes/],
      [{ ...ok, nodes: 10 }, /--nodes 10/],
      [{ ...ok, managers: 2 }, /--managers 2: the number of managers must be odd/],
      [{ ...ok, managers: 0 }, /--managers 0/],
      [{ ...ok, managers: 5 }, /--managers 5 is more than --nodes 3/],
      [{ ...ok, name: 'Bad_Name' }, /invalid cluster name "Bad_Name"/],
      [{ ...ok, name: 'a'.repeat(21) }, /invalid cluster name/],
    ] as const) {
      const e = errorOf(() => checkCreate(req, [], []));
      expect(e).toBeInstanceOf(BerthError);
      expect(e.message).toMatch(msg);
      expect(e.hint).toBeTruthy();
      expect(e.code).toBe('USAGE');
    }
    expect(() => checkCreate(ok, ['default', 'other-1'], [])).not.toThrow();
    expect(() => checkCreate({ ...ok, managers: 3 }, [], [])).not.toThrow();
  });

  it('refuses a name taken by an instance, a node name or another cluster', () => {
    const ok = { name: 'c', nodes: 3, managers: 1 };
    expect(errorOf(() => checkCreate(ok, ['c'], [])).message).toMatch(/clashes with the instance "c"/);
    expect(errorOf(() => checkCreate(ok, ['c-2', 'c-7'], [])).message).toMatch(/instances "c-2", "c-7"/);
    expect(errorOf(() => checkCreate(ok, [], ['c'])).message).toMatch(/a cluster named "c" exists already/);
  });

  it('lays out nodes: addresses, unique MACs, node 1 serves the registry, the first ones manage', () => {
    const seg = { segment: '239.255.7.9:21000', subnet: 42 };
    const nodes = [1, 2, 3].map((i) => nodeSection('c', seg, i, 3));
    expect(nodes.map((n) => n.address)).toEqual(['10.213.42.11', '10.213.42.12', '10.213.42.13']);
    expect(new Set(nodes.map((n) => n.mac)).size).toBe(3);
    expect(nodes[0]!.mac).toBe('52:54:00:d5:2a:0b');
    expect(nodes.map((n) => n.serveRegistry)).toEqual([true, false, false]);
    expect(nodes.every((n) => n.registry === '10.213.42.11')).toBe(true);
    expect(nodes.map((n) => n.role)).toEqual(['manager', 'manager', 'manager']);
    expect(nodeSection('c', seg, 2, 1).role).toBe('worker');
    // What berth writes is what the YAML's schema takes back.
    for (const n of nodes) expect(clusterNodeSchema.parse(n)).toEqual(n);
    expect(segmentOf(nodes[2]!)).toEqual(seg);
  });

  it('picks a segment no other cluster uses, its port below the ephemeral ranges', () => {
    const taken = [nodeSection('a', { segment: '239.255.1.2:20005', subnet: 7 }, 1, 1)];
    const seq = [7, 1, 1, 5, /* taken: subnet 7 */ 8, 1, 1, 5 /* port 20005 taken */, 9, 3, 4, 6];
    let i = 0;
    const seg = newSegment(taken, () => seq[i++]!);
    expect(seg).toEqual({ segment: '239.255.3.5:20006', subnet: 9 });
    for (let k = 0; k < 50; k++) {
      const s = newSegment([]);
      const port = Number(s.segment.split(':')[1]);
      expect(port).toBeGreaterThanOrEqual(20000);
      expect(port).toBeLessThan(30000);
      expect(s.segment).toMatch(/^239\.255\.\d+\.\d+:\d+$/);
    }
  });
});
