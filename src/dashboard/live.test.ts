import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { containerCpu, containerRow, cpuPercent, folderStates, parseProcStat, shareRows } from './live.js';

describe('dashboard live state: pure parts', () => {
  it('QEMU CPU % of one core from two readings', () => {
    expect(cpuPercent(1000, 1100, 2000)).toBe(50); // 100 ticks = 1 s of CPU in 2 s
    expect(cpuPercent(1000, 1400, 2000)).toBe(200); // two cores busy
    expect(cpuPercent(1000, 900, 2000)).toBe(0); // a new process: no negative use
    expect(cpuPercent(1000, 1100, 0)).toBe(0);
  });

  it('reads /proc/PID/stat past a command name with spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, (_, k) => String(k));
    // after "(comm)": state is field 3; utime 14, stime 15, rss 24 (1-based) → indexes 11, 12, 21 of the rest
    const rest = ['S', ...fields.slice(4)];
    rest[11] = '300';
    rest[12] = '45';
    rest[21] = '2560';
    const text = `1234 (qemu (x) y) ${rest.join(' ')}`;
    expect(parseProcStat(text)).toEqual({ ticks: 345, rssPages: 2560 });
    expect(parseProcStat('garbage')).toBeUndefined();
  });

  it("container CPU % from the engine's two readings", () => {
    expect(containerCpu(undefined, { total: 10, system: 10, cpus: 2 })).toBeUndefined();
    expect(containerCpu({ total: 0, system: 0 }, { total: 50, system: 100, cpus: 2 })).toBe(100);
    expect(containerCpu({ total: 50, system: 100 }, { total: 50, system: 100, cpus: 2 })).toBeUndefined();
  });

  it('a container row: health, compose labels, ports once each, any-address shown as 127.0.0.1', () => {
    const row = containerRow({
      Id: 'abc123',
      Names: ['/app-web-1'],
      Image: 'web:1',
      State: 'running',
      Status: 'Up 3 minutes (healthy)',
      Labels: { 'com.docker.compose.project': 'app', 'com.docker.compose.service': 'web' },
      Ports: [
        { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
        { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
        { IP: '127.0.0.1', PrivatePort: 53, PublicPort: 5353, Type: 'udp' },
        { PrivatePort: 9000, Type: 'tcp' },
      ],
    });
    expect(row).toEqual({
      id: 'abc123',
      name: 'app-web-1',
      image: 'web:1',
      state: 'running',
      status: 'Up 3 minutes (healthy)',
      health: 'healthy',
      project: 'app',
      service: 'web',
      ports: [
        { hostPort: 5353, containerPort: 53, proto: 'udp', hostIP: '127.0.0.1' },
        { hostPort: 8080, containerPort: 80, proto: 'tcp', hostIP: '127.0.0.1' },
      ],
    });
    expect(
      containerRow({
        Id: 'x'.repeat(64),
        Names: [],
        Image: 'i',
        State: 'exited',
        Status: 'Exited (0)',
        Labels: {},
        Ports: [],
      }),
    ).toMatchObject({ name: 'x'.repeat(12), ports: [] });
  });

  it("shares: resolved as the agent does; a missing host folder is said; the guest's mount table gives the state", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-shares-'));
    const spaced = path.join(dir, 'a b');
    fs.mkdirSync(spaced);
    fs.mkdirSync(path.join(dir, 's'));
    const m = (location: string, sync = false) => ({
      location,
      writable: true,
      sync,
      cache: 'mmap' as const,
    });
    const rows = shareRows([m(spaced), m(path.join(dir, 's'), true)], 'berth.yaml');
    expect(rows.map((r) => [r.tag, r.mountPoint])).toEqual([
      ['berth0', spaced],
      ['berth1', path.join(dir, 's')],
    ]);
    const esc = spaced.replace(/ /g, '\\040');
    const mounts = [
      'proc /proc proc rw 0 0',
      `berth0 ${esc} 9p rw,nosuid,nodev 0 0`,
      'berth1 /run/berth/sync/berth1 9p rw 0 0',
      '',
    ].join('\n');
    expect(folderStates(rows, mounts, true).map((r) => r.state)).toEqual([
      'mounted',
      'in step with the host',
    ]);
    expect(folderStates(rows, mounts, false)[1]!.state).toBe('first copy under way');
    // Another source at the path is not the share; nothing mounted is said as such.
    expect(folderStates(rows, `berth7 ${esc} 9p rw 0 0\n`, false).map((r) => r.state)).toEqual([
      'not mounted in the guest',
      'not connected: the host folder is not mounted for berth-syncd',
    ]);
    const gone = shareRows([m(path.join(dir, 'missing'))], 'berth.yaml');
    expect(gone[0]!.state).toMatch(/^not shared: berth.yaml: mounts\[0\]\.location: .* does not exist/);
    expect(folderStates(gone, mounts, true)).toEqual(gone);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
