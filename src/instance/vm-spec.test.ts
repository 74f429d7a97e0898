import { describe, expect, it } from 'vitest';
import { clusterNodeSchema } from '../config/schema.js';
import { clusterNetworkEntry, tcgTuning } from './vm-spec.js';

describe('clusterNetworkEntry', () => {
  it("is nothing outside a cluster, and a node's card, address and registry inside one", () => {
    expect(clusterNetworkEntry(undefined)).toBe('');
    const c = clusterNodeSchema.parse({
      name: 'c',
      segment: '239.255.3.5:20006',
      address: '10.213.42.12',
      mac: '52:54:00:d5:2a:0c',
      registry: '10.213.42.11',
      role: 'manager',
    });
    expect(clusterNetworkEntry(c)).toBe(
      'lan_address=10.213.42.12\nlan_prefix=24\nlan_mac=52:54:00:d5:2a:0c\nregistry=10.213.42.11\nregistry_serve=0\n',
    );
    expect(clusterNetworkEntry({ ...c, serveRegistry: true })).toMatch(/registry_serve=1\n$/);
  });
});

describe('tcgTuning', () => {
  it('takes BERTH_TCG_THREAD and BERTH_TCG_CPU when they are well-formed, nothing otherwise', () => {
    expect(tcgTuning({})).toEqual({});
    expect(tcgTuning({ BERTH_TCG_THREAD: 'single', BERTH_TCG_CPU: 'Skylake-Client-v4' })).toEqual({
      tcg: { thread: 'single', cpu: 'Skylake-Client-v4' },
    });
    expect(tcgTuning({ BERTH_TCG_THREAD: 'both', BERTH_TCG_CPU: 'max; rm -rf' })).toEqual({});
  });
});
