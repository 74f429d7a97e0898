import { describe, expect, it } from 'vitest';
import { daemonJson } from './daemon-json.js';

describe('daemonJson', () => {
  it("is berth's defaults and the image store when the YAML says nothing", () => {
    expect(JSON.parse(daemonJson({}, true))).toEqual({
      'log-driver': 'json-file',
      'log-opts': { 'max-size': '10m', 'max-file': '3' },
      features: { 'containerd-snapshotter': true },
    });
    expect(JSON.parse(daemonJson({}, false)).features).toEqual({ 'containerd-snapshotter': false });
  });

  it("puts the user's settings over berth's, merging features and json-file options key by key", () => {
    const j = JSON.parse(
      daemonJson(
        {
          'insecure-registries': ['host.berth.internal:5000'],
          features: { cdi: true },
          'log-opts': { 'max-size': '50m' },
        },
        true,
      ),
    );
    expect(j['insecure-registries']).toEqual(['host.berth.internal:5000']);
    expect(j.features).toEqual({ cdi: true, 'containerd-snapshotter': true });
    expect(j['log-opts']).toEqual({ 'max-size': '50m', 'max-file': '3' });
  });

  it("a cluster node's engine also trusts the cluster registry, beside the user's", () => {
    expect(JSON.parse(daemonJson({}, true, ['registry.berth.internal:5000']))['insecure-registries']).toEqual(
      ['registry.berth.internal:5000'],
    );
    const j = JSON.parse(
      daemonJson({ 'insecure-registries': ['a:1', 'registry.berth.internal:5000'] }, true, [
        'registry.berth.internal:5000',
      ]),
    );
    expect(j['insecure-registries']).toEqual(['a:1', 'registry.berth.internal:5000']);
    expect(JSON.parse(daemonJson({}, true))).not.toHaveProperty('insecure-registries');
  });

  it("drops berth's json-file options for another log driver", () => {
    const j = JSON.parse(daemonJson({ 'log-driver': 'local' }, true));
    expect(j['log-driver']).toBe('local');
    expect(j['log-opts']).toEqual({});
  });
});
