import type { Command } from 'commander';
import { describeInstance } from '../../instance/lifecycle.js';
import { clockIsOff, formatOffset } from '../../agent-api/events.js';
import { approxSize, formatSize } from '../../util/size.js';
import { json, result } from '../output.js';

export function registerStatus(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  program
    .command('status')
    .argument('[name]', 'instance name', 'default')
    .description('show one instance')
    .option('--json', 'machine-readable output')
    .action((name: string, o: { json?: boolean }) =>
      run(async () => {
        const v = await describeInstance(name, { details: true });
        if (o.json) return json(v);
        const lines = [
          `name:    ${v.name}`,
          `status:  ${v.status}`,
          `arch:    ${v.arch}`,
          `cpus:    ${v.cpus}`,
          `memory:  ${formatSize(v.memory)}`,
          `disk:    ${formatSize(v.disk)}`,
          `accel:   ${v.accel}`,
          `runs:    ${v.runs}${v.runs.startsWith('emulated') ? ' (foreign architecture: every instruction emulated)' : ''}`,
          `socket:  ${v.socket}`,
          `platforms: ${v.platforms.map((p, i) => (i === 0 ? `${p} (native)` : p)).join(', ')}`,
          `dir:     ${v.dir}`,
        ];
        if (v.image) {
          const i = v.image;
          const versions = Object.entries(i.versions)
            .map(([k, ver]) => `${k} ${ver}`)
            .join(', ');
          lines.push(
            `image:   ${i.id} (Debian ${i.suite ?? '?'}, built ${i.createdAt.slice(0, 10)}, ${i.ageDays} days ago)`,
            `engine:  ${versions}`,
            // buildx shows "v0.0.0+unknown": Debian's dockerd does not stamp the BuildKit it is built with.
            ...(i.versions.dockerd ? [`builder: BuildKit, built into dockerd ${i.versions.dockerd}`] : []),
            `data:    ${i.layout === 'data' ? `own disk (image store: ${i.imageStore ?? 'containerd'})` : 'on the OS disk (previous layout)'}`,
          );
          if (i.warning) lines.push(`warning: ${i.warning}`);
        }
        if (v.host) {
          const h = v.host;
          lines.push(
            `on host: disks use ${approxSize(h.osDiskBytes + h.dataDiskBytes)} (data ${approxSize(h.dataDiskBytes)}, OS ${approxSize(h.osDiskBytes)})${h.qemuRssBytes !== undefined ? `, the VM holds ${approxSize(h.qemuRssBytes)} of memory (of ${formatSize(v.memory)})` : ''}`,
          );
        }
        if (v.guest) {
          const g = v.guest;
          lines.push(
            `in guest: disk ${approxSize(g.diskUsedBytes)} used of ${approxSize(g.diskBytes)} (${approxSize(g.diskFreeBytes)} free), memory ${approxSize(g.memoryUsedBytes)} used of ${approxSize(g.memoryBytes)}`,
          );
          if (v.guestDiskWarning) lines.push(`warning: ${v.guestDiskWarning}`);
        }
        if (v.guestClock) {
          const off = v.guestClock.offsetMs;
          lines.push(
            `clock:   ${!clockIsOff(v.guestClock) ? `within ${Math.abs(off)} ms of the host's` : `${formatOffset(off)} the host's (set again within 30 s; berth doctor --fix sets it now)`}`,
          );
        }
        if (v.systemSocket) {
          const s = v.systemSocket;
          const says: Record<string, string> = {
            ours: 'points at this instance',
            absent: 'not there (linked while the instance runs)',
            'stale-link': 'a link to nothing (replaced at the next start)',
            'other-link': 'points at another engine',
            native: "the host's own Docker Engine's (berth leaves it alone)",
          };
          lines.push(`system socket: ${s.path} ${says[s.state] ?? s.state}`);
        }
        if (v.savedState) {
          lines.push(
            `saved:   ${formatSize(v.savedState.sizeBytes)} state from ${v.savedState.savedAt}${v.savedState.usable ? ' (next start resumes from it)' : ' (incomplete: next start boots cold)'}`,
          );
        }
        if (v.lastCrash) {
          const c = v.lastCrash;
          lines.push(
            `crashed: ${c.at} (${c.text})${c.restarts ? `; restarted ${c.restarts} time${c.restarts === 1 ? '' : 's'} in the last 10 min` : ''}`,
          );
        }
        if (v.error) lines.push(`problem: ${v.error}`);
        result(lines.join('\n'));
        if (v.status !== 'Running') process.exitCode = 1;
      }),
    );
}
