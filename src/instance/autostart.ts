import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { writeFileAtomic } from '../store/instance-store.js';
import { FILES } from '../store/filenames.js';
import { berthHome } from '../store/paths.js';

/**
 * Starting an instance at login, with what the host has: a systemd user unit where a systemd user manager
 * runs (most Linux desktops), else an XDG autostart entry (what every freedesktop session runs at login: GNOME,
 * KDE, Xfce…). Either runs `berth start NAME` for the same BERTH_HOME; berth's own supervisor keeps the agent
 * alive after that, so nothing depends on the service manager once it started.
 */
export type AutostartKind = 'systemd' | 'xdg';

export interface AutostartEntry {
  kind: AutostartKind;
  file: string;
  text: string;
}

function configHome(): string {
  return process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
}

/** The command that starts the instance: this Node and this checkout's CLI, absolute. */
export function startCommand(name: string): string[] {
  const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'berth');
  return [process.execPath, cli, 'start', name];
}

/** systemd's quoting of one word of ExecStart (systemd.service(5), "Command lines"; % is a specifier). */
export function systemdWord(w: string): string {
  const esc = w.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9_\-./=:,@+]+$/.test(esc) ? esc : `"${esc.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The Desktop Entry spec's quoting of one Exec argument (reserved characters in double quotes; % doubled). */
export function desktopWord(w: string): string {
  const esc = w.replace(/%/g, '%%');
  return /^[A-Za-z0-9_\-./=:,@+]+$/.test(esc) ? esc : `"${esc.replace(/(["`$\\])/g, '\\$1')}"`;
}

/** Pure: the files an instance's autostart consists of. */
export function autostartEntry(
  kind: AutostartKind,
  name: string,
  home: string,
  cmd: string[],
): AutostartEntry {
  if (kind === 'systemd') {
    return {
      kind,
      file: path.join(configHome(), 'systemd', 'user', `berth-${name}.service`),
      text: [
        '# Written by "berth autostart enable"; "berth autostart disable" removes it.',
        '[Unit]',
        `Description=berth instance ${name} (Docker Engine in a VM)`,
        '',
        '[Service]',
        // berth start returns once the engine answers, leaving the instance's supervisor running: systemd
        // watches that process. Killed (a signal, the OOM killer), it is restarted: the new berth start
        // re-attaches to the VM, which KillMode=process left running. A supervisor that exits (berth stop, a
        // crash loop the restart policy gave up on) is left alone.
        'Type=forking',
        `PIDFile=${systemdWord(path.join(home, name, FILES.supervisorPid))}`,
        'Restart=on-abnormal',
        'RestartSec=2',
        'KillMode=process',
        `Environment=${systemdWord(`BERTH_HOME=${home}`)}`,
        `ExecStart=${cmd.map(systemdWord).join(' ')}`,
        `ExecStop=${[...cmd.slice(0, -2), 'stop', name].map(systemdWord).join(' ')}`,
        'TimeoutStartSec=15min',
        '',
        '[Install]',
        'WantedBy=default.target',
        '',
      ].join('\n'),
    };
  }
  return {
    kind,
    file: path.join(configHome(), 'autostart', `berth-${name}.desktop`),
    text: [
      '# Written by "berth autostart enable"; "berth autostart disable" removes it.',
      '[Desktop Entry]',
      'Type=Application',
      `Name=berth instance ${name}`,
      'Comment=Starts the Docker Engine VM at login',
      `Exec=env ${desktopWord(`BERTH_HOME=${home}`)} ${cmd.map(desktopWord).join(' ')}`,
      'Terminal=false',
      'NoDisplay=true',
      'X-GNOME-Autostart-enabled=true',
      '',
    ].join('\n'),
  };
}

/** Whether a systemd user manager answers for this user (none on these CI machines, nor in most containers). */
async function systemdUser(): Promise<boolean> {
  if (process.platform !== 'linux') return false;
  const r = await execa('systemctl', ['--user', 'is-system-running'], { reject: false, timeout: 5000 }).catch(
    () => undefined,
  );
  // "running" or "degraded" both mean a manager that will run units; a missing binary or bus is no manager.
  return r !== undefined && /^(running|degraded|starting)/.test(String(r.stdout).trim());
}

/** Writes the entry the host supports and, for systemd, enables it; returns what was done. */
export async function enableAutostart(name: string): Promise<{ entry: AutostartEntry; note: string }> {
  const kind: AutostartKind = (await systemdUser()) ? 'systemd' : 'xdg';
  const entry = autostartEntry(kind, name, berthHome(), startCommand(name));
  await fsp.mkdir(path.dirname(entry.file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(entry.file, entry.text, 0o644);
  if (kind === 'systemd') {
    await execa('systemctl', ['--user', 'daemon-reload']);
    await execa('systemctl', ['--user', 'enable', path.basename(entry.file)]);
    return { entry, note: `enabled ${path.basename(entry.file)}: systemd starts it at your next login` };
  }
  return {
    entry,
    note: 'no systemd user manager here: your desktop session starts it at your next login (XDG autostart)',
  };
}

/**
 * Removes whichever entries exist (both kinds); returns the files removed. `onlyOurs`: only those written for
 * this BERTH_HOME (a delete must not remove another home's instance of the same name).
 */
export async function disableAutostart(name: string, opts: { onlyOurs?: boolean } = {}): Promise<string[]> {
  const removed: string[] = [];
  for (const kind of ['systemd', 'xdg'] as const) {
    const want = autostartEntry(kind, name, berthHome(), startCommand(name));
    const file = want.file;
    if (!fs.existsSync(file)) continue;
    if (opts.onlyOurs && (await fsp.readFile(file, 'utf8').catch(() => '')) !== want.text) continue;
    if (kind === 'systemd')
      await execa('systemctl', ['--user', 'disable', path.basename(file)], { reject: false }).catch(
        () => undefined,
      );
    await fsp.rm(file, { force: true });
    removed.push(file);
  }
  return removed;
}

/** The entries that exist for an instance (and whether they are for this BERTH_HOME). */
export async function autostartStatus(
  name: string,
): Promise<Array<{ kind: AutostartKind; file: string; current: boolean }>> {
  const out: Array<{ kind: AutostartKind; file: string; current: boolean }> = [];
  for (const kind of ['systemd', 'xdg'] as const) {
    const want = autostartEntry(kind, name, berthHome(), startCommand(name));
    const text = await fsp.readFile(want.file, 'utf8').catch(() => undefined);
    if (text !== undefined) out.push({ kind, file: want.file, current: text === want.text });
  }
  return out;
}
