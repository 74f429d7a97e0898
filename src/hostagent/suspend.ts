import fsp from 'node:fs/promises';
import type { Driver, VmSpec } from '../driver/driver.js';
import { discardSavedState, readSavedState, savedStateProblem } from '../instance/saved-state.js';
import { tempFile } from '../store/filenames.js';
import { instanceFile } from '../store/paths.js';
import { savedStateRecord } from '../store/records.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { EventLog } from './event-log.js';

/**
 * Saves the paused VM's RAM and device state to the instance's state file (written beside it, then renamed)
 * and records what it was saved with; resolves with its size. The VM stays paused (the caller quits it).
 */
export async function saveVmState(
  driver: Driver,
  spec: VmSpec,
  name: string,
  saved: { fingerprint: string; imageId: string },
): Promise<number> {
  const file = instanceFile(name, 'suspendState');
  const size = await driver.saveState(spec, tempFile(file));
  await fsp.rename(tempFile(file), file);
  await savedStateRecord.write(name, { ...saved, sizeBytes: size, savedAt: new Date().toISOString() });
  return size;
}

/**
 * Resumes from a saved state when there is a usable one. Anything wrong with it (config changed, partial
 * file, QEMU refuses it) gives a notice, discards it and returns false: the caller boots cold.
 */
export async function tryResume(
  driver: Driver,
  spec: VmSpec,
  opts: { name: string; fingerprint: string; cold?: boolean; events: EventLog; log: Logger },
): Promise<boolean> {
  const { name, events } = opts;
  const meta = await readSavedState(name);
  if (!meta) return false;
  const problem = opts.cold
    ? 'cold start requested (--cold)'
    : !driver.features.suspend
      ? `the ${driver.name} driver cannot resume a saved state`
      : savedStateProblem(meta, opts.fingerprint);
  if (problem) {
    events.notice(`discarding the saved state: ${problem}; cold start`);
    await discardSavedState(name);
    return false;
  }
  events.progress(
    'resume',
    `resuming from the saved state (${(meta.sizeBytes / 1024 ** 2).toFixed(0)} MiB, saved ${meta.savedAt})`,
  );
  try {
    await driver.start({ ...spec, incoming: true });
    await driver.loadState(spec, instanceFile(name, 'suspendState'));
  } catch (err) {
    opts.log.warn({ err }, 'resume failed');
    await driver.kill(spec).catch(() => undefined); // it may not have started at all
    events.notice(`the saved state could not be used (${errorMessage(err)}); cold start`);
    await discardSavedState(name);
    return false;
  }
  // Once the guest runs on, its disk moves past the saved state: the state must never be used again.
  await discardSavedState(name);
  return true;
}
