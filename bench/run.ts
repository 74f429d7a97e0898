/**
 * berth benchmark harness: `npm run bench [-- --quick]`.
 * Measures berth and a hand-assembled baseline (same image, systemd + sshd + ssh -L) in the same run,
 * several runs each, and reports medians and ratios. Writes bench/results/latest.json (quick.json for
 * --quick) and docs/benchmarks.md (not for --quick). Nothing here asserts speed: CI runs --quick only to
 * prove the harness works. The measurements are in measure/, the Markdown in report.ts.
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FILES } from '../src/store/filenames.js';
import { berth, berthOk, makeEnv, REPO } from '../test/support/env.js';
import { busyboxContext } from '../test/support/images.js';
import { pidFromFile } from '../test/support/proc.js';
import { ensureBaselineImage } from './baseline-image.js';
import { dockerAt, NAME, sizes, socketOf, SYNC_NAME, type Bench } from './context.js';
import { idleFigures } from './measure/engine.js';
import { berthFiles, qemuShareModel, shareMounts } from './measure/files.js';
import { baselineForwards, baselinePorts, berthPorts, hostfwds, stopGuestServers } from './measure/ports.js';
import { baselineStarts, berthColdStarts, berthWarmStarts } from './measure/start.js';
import { syncFigures } from './measure/sync.js';
import { renderReport } from './report.js';
import { toResult, type BaselineRaw, type BerthRaw } from './result.js';

const quick = process.argv.includes('--quick');
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);
const b: Bench = { e: await makeEnv('bench'), n: sizes(quick), log };

async function main(): Promise<void> {
  const bbDir = await busyboxContext({ dir: path.join(b.e.root, 'bb') });
  log("ensuring the guest images are built (berth's and the plain baseline)");
  await berthOk(b.e, ['image', 'build']);
  const img = await ensureBaselineImage((m) => log(`baseline image: ${m}`));

  // ---- baseline ----
  const fwd = await baselineForwards();
  const baseline = await baselineStarts(b, img, hostfwds(fwd), async (vm) => {
    await dockerAt(b, vm.socket, ['build', '-q', '-t', 'bb:bench', bbDir]);
    const idle = await idleFigures(b, vm.socket, { qemu: vm.qemu.pid });
    log('baseline port forwarding: QEMU hostfwd and ssh -L');
    return { ...idle, io: await baselinePorts(b, vm, fwd) };
  });
  const base: BaselineRaw = { cold: baseline.cold, stop: baseline.stop, ...baseline.last };

  // ---- berth ----
  // The instance: the default home share plus one folder per 9p cache mode for the file workloads.
  const cold = await berthColdStarts(b, await shareMounts(b), bbDir, async () => {
    const dir = path.join(b.e.home, NAME);
    const idle = await idleFigures(b, socketOf(b), {
      qemu: pidFromFile(path.join(dir, FILES.qemuPid)),
      agent: pidFromFile(path.join(dir, FILES.agentPid)),
    });
    log('berth port forwarding, listen → accept, shared folders');
    const ports = await berthPorts(b);
    const files = await berthFiles(b);
    const shareModel = await qemuShareModel(pidFromFile(path.join(dir, FILES.qemuPid)));
    await stopGuestServers(b);
    return { idle, io: { ...ports, files, shareModel } };
  });
  const warm = await berthWarmStarts(b);
  await berthOk(b.e, ['delete', NAME, '--force']);
  const berthRaw: BerthRaw = {
    cold: cold.cold,
    warm: warm.warm,
    stop: cold.stop,
    suspend: warm.suspend,
    ...cold.last?.idle,
  };
  log('berth synchronised folder (a second instance)');
  const sync = await syncFigures(b);

  const result = toResult({
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model ?? 'unknown',
      memGiB: Math.round(os.totalmem() / 1024 ** 3),
      kernel: os.release(),
      accel: 'tcg',
      quick,
      runs: b.n.runs,
    },
    n: b.n,
    base,
    berth: berthRaw,
    breakdown: cold.breakdown,
    guest: cold.guest,
    io: cold.last?.io,
    sync,
  });
  await fsp.mkdir(path.join(REPO, 'bench', 'results'), { recursive: true });
  const jsonFile = path.join(REPO, 'bench', 'results', quick ? 'quick.json' : 'latest.json');
  await fsp.writeFile(
    jsonFile,
    JSON.stringify({ ...result, raw: { baseline: base, berth: berthRaw } }, null, 2) + '\n',
  );
  const report = renderReport(result);
  if (!quick) await fsp.writeFile(path.join(REPO, 'docs', 'benchmarks.md'), report);
  process.stdout.write(report);
}

try {
  await main();
} finally {
  for (const n of [NAME, SYNC_NAME]) await berth(b.e, ['delete', n, '--force']);
  await fsp.rm(b.e.root, { recursive: true, force: true });
}
