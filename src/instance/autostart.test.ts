import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  autostartEntry,
  autostartStatus,
  desktopWord,
  disableAutostart,
  enableAutostart,
  systemdWord,
} from './autostart.js';

describe('autostart entries', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-autostart-'));
    process.env.XDG_CONFIG_HOME = path.join(dir, 'config');
    process.env.BERTH_HOME = path.join(dir, 'home');
  });
  afterEach(() => {
    delete process.env.XDG_CONFIG_HOME;
    delete process.env.BERTH_HOME;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('quotes words for systemd and for Desktop Entry Exec lines', () => {
    expect(systemdWord('/usr/bin/node')).toBe('/usr/bin/node');
    expect(systemdWord('/home/a b/100%$x"y')).toBe('"/home/a b/100%%$$x\\"y"');
    expect(desktopWord('/opt/berth/bin/berth')).toBe('/opt/berth/bin/berth');
    expect(desktopWord('/home/a b/$x`y"z\\w%')).toBe('"/home/a b/\\$x\\`y\\"z\\\\w%%"');
  });

  it('a systemd unit runs berth start and stop for this BERTH_HOME at login', () => {
    const e = autostartEntry('systemd', 'dev', '/h/a b', [
      '/usr/bin/node',
      '/opt/berth/bin/berth',
      'start',
      'dev',
    ]);
    expect(e.file).toBe(path.join(dir, 'config', 'systemd', 'user', 'berth-dev.service'));
    expect(e.text).toContain('Environment="BERTH_HOME=/h/a b"\n');
    expect(e.text).toContain('ExecStart=/usr/bin/node /opt/berth/bin/berth start dev\n');
    expect(e.text).toContain('ExecStop=/usr/bin/node /opt/berth/bin/berth stop dev\n');
    expect(e.text).toContain('WantedBy=default.target');
    // systemd supervises the supervisor: restarted when killed, and the VM left running for the re-attach.
    expect(e.text).toContain('Type=forking\nPIDFile="/h/a b/dev/ha-supervisor.pid"\nRestart=on-abnormal\n');
    expect(e.text).toContain('KillMode=process\n');
  });

  it('without systemd (as here): an XDG autostart entry; disable removes it; status tells ours from others', async () => {
    const { entry, note } = await enableAutostart('dev');
    expect(entry.kind).toBe('xdg');
    expect(note).toMatch(/XDG autostart/);
    expect(entry.file).toBe(path.join(dir, 'config', 'autostart', 'berth-dev.desktop'));
    const text = fs.readFileSync(entry.file, 'utf8');
    expect(text).toMatch(/^Exec=env BERTH_HOME=\S+\/home \S+node \S+\/bin\/berth start dev$/m);
    expect(await autostartStatus('dev')).toEqual([{ kind: 'xdg', file: entry.file, current: true }]);
    // Another BERTH_HOME's instance of the same name: not ours, and a delete here leaves it alone.
    process.env.BERTH_HOME = path.join(dir, 'other');
    expect(await autostartStatus('dev')).toEqual([{ kind: 'xdg', file: entry.file, current: false }]);
    expect(await disableAutostart('dev', { onlyOurs: true })).toEqual([]);
    expect(await disableAutostart('dev')).toEqual([entry.file]);
    expect(fs.existsSync(entry.file)).toBe(false);
    expect(await autostartStatus('dev')).toEqual([]);
  });
});
