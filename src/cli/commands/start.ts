import type { Command } from 'commander';
import { loadInstanceConfig } from '../../config/load.js';
import { ACCELS, ARCHES, hostArch, type Arch } from '../../config/schema.js';
import { instanceFile } from '../../store/paths.js';
import { prepareInstance, startInstance, stopInstance } from '../../instance/lifecycle.js';
import { driverFor } from '../../driver/drivers.js';
import { runtimeFor } from '../../runtime/runtimes.js';
import type { HostIntegration } from '../../runtime/runtime.js';
import { guestBootPhases } from '../../guest/guest-channel.js';
import { BerthError } from '../../util/errors.js';
import { info, result, step } from '../output.js';

export interface StartOpts {
  cpus?: string;
  memory?: string;
  disk?: string;
  accel?: string;
  arch?: string;
  runtime?: string;
  image?: string;
  imageSha256?: string;
  activate: boolean;
  verbose?: boolean;
  cold?: boolean;
  upgrade?: boolean;
}

async function existingArch(name: string): Promise<string | undefined> {
  try {
    return (await loadInstanceConfig(instanceFile(name, 'config'))).arch;
  } catch {
    return undefined; // new instance or unreadable config: prepareInstance reports the real problem
  }
}

function toInt(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new BerthError('USAGE', `${flag}: "${v}" is not a whole number`);
  return Number(v);
}

export async function runStart(name: string, o: StartOpts): Promise<void> {
  const t0 = Date.now();
  refuseRoot();
  // A missing hypervisor is reported before anything is created on disk.
  const arch = (o.arch ?? (await existingArch(name)) ?? hostArch()) as Arch;
  if ((ARCHES as readonly string[]).includes(arch)) await driverFor().checkHost(arch);
  const prep = await prepareInstance(name, {
    cpus: toInt(o.cpus, '--cpus'),
    memory: o.memory,
    disk: o.disk,
    accel: o.accel,
    arch: o.arch,
    runtime: o.runtime,
    image: o.image,
    imageSha256: o.imageSha256,
  });
  if (prep.created) info(`created instance "${name}"`);
  else if (prep.changed) info(`updated the configuration of "${name}"`);

  // An upgrade replaces the OS disk: only of a stopped VM.
  if (o.upgrade && !prep.created && (await stopInstance(name, false)) === 'stopped')
    info(`stopped "${name}" to upgrade it`);
  const res = await startInstance(
    name,
    (e) => {
      if (e.type === 'progress') step(e.message, e.t);
      else if (e.type === 'notice') info(`notice: ${e.message}`);
    },
    { cold: o.cold, upgrade: o.upgrade },
  );
  if (res.kind === 'already-running') {
    if (prep.changed)
      info(
        'notice: the instance is running; configuration changes apply at the next start ("berth restart")',
      );
    info(`instance "${name}" is already running`);
    result(res.socket);
    return;
  }
  const ev = res.event;
  if (o.verbose) {
    info('boot breakdown:');
    for (const [k, v] of Object.entries(ev.breakdown)) info(`  ${k.padEnd(8)} ${(v / 1000).toFixed(1)} s`);
    const phases = guestBootPhases(ev.guestBoot ?? {});
    if (phases.length) {
      info('inside the guest (from its kernel start):');
      for (const [k, v] of phases) info(`  ${k.padEnd(8)} ${(v / 1000).toFixed(1)} s`);
    }
  }
  const host = runtimeFor(prep.config.runtime).host;
  let ctxLine = `  DOCKER_HOST=unix://${ev.socket} ${host.cli} ps`;
  if (await host.available()) {
    try {
      const ctx = await host.ensure(name, ev.socket, o.activate);
      ctxLine = o.activate
        ? `  ${host.cli} ps                      (context "${ctx}" is now current)`
        : `  ${host.cli} --context ${ctx} ps`;
      if (!o.activate) {
        const cur = await host.current();
        if (cur && cur !== host.name(name))
          info(`notice: your current ${host.noun} stays "${cur}" (--no-activate)`);
      }
      if (o.activate && (process.env.DOCKER_HOST || process.env.DOCKER_CONTEXT)) {
        info(
          'notice: DOCKER_HOST or DOCKER_CONTEXT is set in your environment and overrides the current context',
        );
      }
    } catch (err) {
      info(`notice: could not set up the ${host.noun}: ${(err as Error).message}`);
    }
  } else {
    info(`notice: no ${host.cli} CLI on PATH; skipping the ${host.noun} (berth cli install --docker-cli)`);
  }
  await ensureHostTools(host);
  info(`instance "${name}" is running (${((Date.now() - t0) / 1000).toFixed(1)} s). Use it with:`);
  info(ctxLine);
  result(ev.socket);
}

/**
 * VMs as root only when asked (SECURITY.md). When allowed, QEMU runs without any capability and the shares keep
 * the guest's owners and modes in xattrs (VmSpec.asRoot), so guest root plants no set-id file or device node on
 * the host; but it still writes as root into the shared folders, and a hole in QEMU would be root's.
 */
function refuseRoot(): void {
  if (process.getuid?.() !== 0 || process.env.BERTH_ALLOW_ROOT === '1') return;
  throw new BerthError(
    'PERMISSION',
    'refusing to run a VM as root: its shared folders would be served as root, and root in the guest could plant set-id files owned by root in them',
    {
      hint: 'run berth as your own user; on a throwaway machine (CI) where that is accepted, set BERTH_ALLOW_ROOT=1',
    },
  );
}

/**
 * The CLI's plugins that go with the engine (Docker: compose, buildx), installed once when missing, like Docker
 * Desktop's bundle (BERTH_HOST_CLI=0: never). A failure is a notice: the engine runs either way.
 */
async function ensureHostTools(host: HostIntegration): Promise<void> {
  if (!host.tools || process.env.BERTH_HOST_CLI === '0') return;
  const missing = await host.tools.missing();
  if (!missing.length) return;
  try {
    await host.tools.install((m) => info(m));
  } catch (err) {
    info(
      `notice: could not install ${missing.join(', ')}: ${(err as Error).message} (try again: berth cli install)`,
    );
  }
}

export function registerStart(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  program
    .command('start')
    .argument('[name]', 'instance name', 'default')
    .description(
      'create (on first use) and start an instance; returns when Docker answers on the host socket',
    )
    .option('--cpus <n>', 'virtual CPUs')
    .option('--memory <size>', 'memory, e.g. 4GiB')
    .option('--disk <size>', 'disk size, e.g. 60GiB (can grow later, never shrink)')
    .option('--accel <accel>', `accelerator: ${ACCELS.join('|')}`)
    .option(
      '--arch <arch>',
      `guest architecture: ${ARCHES.join('|')} (a foreign one is fully emulated: slow)`,
    )
    .option('--runtime <runtime>', 'container runtime: docker')
    .option('--image <path|url>', 'use a prebuilt image archive instead of building one')
    .option('--image-sha256 <digest>', 'sha256 of the image archive (required for URLs)')
    .option('--no-activate', "do not make the instance's docker context current")
    .option('--cold', 'boot afresh, discarding a saved state from "berth suspend"')
    .option(
      '--upgrade',
      'move the instance to the current guest image (stops it first if running); its images, containers and volumes are kept',
    )
    .option('-v, --verbose', 'show where the start time went')
    .action((name: string, o: StartOpts) => run(() => runStart(name, o)));
}
