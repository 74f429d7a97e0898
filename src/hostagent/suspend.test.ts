import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../agent-api/events.js';
import { loadInstanceConfig } from '../config/load.js';
import type { Driver, VmControl, VmSpec } from '../driver/driver.js';
import { USER_NET } from '../driver/qemu/user-net.js';
import { describeInstance, prepareInstance } from '../instance/lifecycle.js';
import { stateFingerprint } from '../instance/saved-state.js';
import { controlSpecFor } from '../instance/vm-spec.js';
import { tempFile } from '../store/filenames.js';
import { instanceFile } from '../store/paths.js';
import { savedStateRecord } from '../store/records.js';
import { EventLog } from './event-log.js';
import { saveVmState, tryResume } from './suspend.js';

const log = pino({ level: 'silent' });
const NAME = 'sus';
const STATE_BYTES = 64 * 1024;

/** A driver that records what it is asked; its "VM state" is STATE_BYTES of a pattern it can recognise. */
class FakeDriver implements Driver {
  readonly name = 'fake';
  readonly features = {
    suspend: true,
    hostForwards: true,
    sharing: '9p' as const,
    accelerators: ['tcg' as const],
  };
  readonly network = USER_NET;
  calls: string[] = [];
  /** The spec of the last start. */
  started?: VmSpec;
  /** What loadState found in the file it was given. */
  loaded?: { file: string; bytes: number };
  loadError?: Error;
  async prepareDisk() {}
  async flattenDisk() {}
  async start(spec: VmSpec) {
    this.calls.push('start');
    this.started = spec;
    return { pid: process.pid };
  }
  async state() {
    return 'running' as const;
  }
  async watch() {
    return undefined;
  }
  async resume() {
    return true;
  }
  async shutdown() {
    return true;
  }
  async kill() {
    this.calls.push('kill');
  }
  async runsVm() {
    return false;
  }
  async killLeftovers() {}
  async saveState(_vm: VmControl, file: string) {
    this.calls.push('saveState');
    await fsp.writeFile(file, Buffer.alloc(STATE_BYTES, 0x5a));
    return STATE_BYTES;
  }
  async loadState(_vm: VmControl, file: string) {
    this.calls.push('loadState');
    // Read while the agent still holds the file: it must not be discarded before QEMU has it.
    this.loaded = { file, bytes: (await fsp.readFile(file)).length };
    if (this.loadError) throw this.loadError;
  }
  async listForwards() {
    return [];
  }
  async addForward() {}
  async removeForward() {}
  async checkHost() {}
  async chooseAccel() {
    return { accel: 'tcg' as const };
  }
  async fingerprint() {
    return 'fake-1';
  }
  async shareProblems() {
    return [];
  }
}

describe('tryResume: which saved states a start resumes, and the cold start instead', () => {
  let home: string;
  let driver: FakeDriver;
  let events: EventLog;
  let seen: AgentEvent[];
  let fingerprint: string;
  const spec = controlSpecFor(NAME) as VmSpec;
  const stateFile = () => instanceFile(NAME, 'suspendState');
  const notices = () => seen.flatMap((e) => (e.type === 'notice' ? [e.message] : []));
  const resume = (opts: { cold?: boolean; fingerprint?: string } = {}) =>
    tryResume(driver, spec, {
      name: NAME,
      fingerprint: opts.fingerprint ?? fingerprint,
      cold: opts.cold,
      events,
      log,
    });
  /** The saved state is gone: its file, its record and any half-written file. */
  const discarded = async () => {
    expect(fs.existsSync(stateFile())).toBe(false);
    expect(fs.existsSync(tempFile(stateFile()))).toBe(false);
    expect(fs.existsSync(instanceFile(NAME, 'suspendMeta'))).toBe(false);
    expect(await savedStateRecord.read(NAME)).toBeUndefined();
  };

  beforeEach(async () => {
    home = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-suspend-'));
    process.env.BERTH_HOME = path.join(home, 'berth');
    driver = new FakeDriver();
    events = new EventLog(log);
    seen = [];
    events.subscribe((e) => seen.push(e));
    // A real instance (berth.yaml, instance record) and a state saved the way `berth suspend` saves it.
    await prepareInstance(NAME, { cpus: 2, memory: '1GiB' });
    const cfg = await loadInstanceConfig(instanceFile(NAME, 'config'));
    fingerprint = stateFingerprint(cfg, 'img-1', await driver.fingerprint());
    expect(await saveVmState(driver, spec, NAME, { fingerprint, imageId: 'img-1' })).toBe(STATE_BYTES);
    driver.calls = [];
  });
  afterEach(async () => {
    delete process.env.BERTH_HOME;
    await fsp.rm(home, { recursive: true, force: true });
  });

  it('a truncated state file: status says it is unusable; a notice, the state discarded, a cold start', async () => {
    await fsp.truncate(stateFile(), STATE_BYTES / 2);
    const view = await describeInstance(NAME);
    expect(view.status).toBe('Suspended');
    expect(view.savedState).toMatchObject({ sizeBytes: STATE_BYTES / 2, usable: false });

    expect(await resume()).toBe(false);
    expect(notices()).toEqual([
      'discarding the saved state: the saved state file is incomplete or was changed; cold start',
    ]);
    expect(driver.calls).toEqual([]); // never started from it: the caller boots cold
    await discarded();
    expect((await describeInstance(NAME)).status).toBe('Stopped');
  });

  it('start --cold discards a usable state on purpose', async () => {
    expect((await describeInstance(NAME)).savedState?.usable).toBe(true);
    expect(await resume({ cold: true })).toBe(false);
    expect(notices()).toEqual(['discarding the saved state: cold start requested (--cold); cold start']);
    expect(driver.calls).toEqual([]);
    await discarded();
  });

  it('a state QEMU refuses to load: the VM it started is killed, a notice, the state discarded', async () => {
    driver.loadError = new Error('Unknown savevm section type 171');
    expect(await resume()).toBe(false);
    expect(driver.calls).toEqual(['start', 'loadState', 'kill']);
    expect(notices()).toEqual([
      'the saved state could not be used (Unknown savevm section type 171); cold start',
    ]);
    await discarded();
  });

  it('a usable state: QEMU started to receive it, the file loaded, then discarded (never resumed twice)', async () => {
    expect(await resume()).toBe(true);
    expect(driver.calls).toEqual(['start', 'loadState']);
    expect(driver.started).toMatchObject({ ...spec, incoming: true });
    expect(driver.loaded).toEqual({ file: stateFile(), bytes: STATE_BYTES });
    expect(notices()).toEqual([]);
    expect(seen).toContainEqual(
      expect.objectContaining({
        type: 'progress',
        step: 'resume',
        message: expect.stringMatching(/^resuming from the saved state \(0 MiB, saved \d{4}-\d\d-\d\dT/),
      }),
    );
    await discarded();
  });

  it('a state saved with another configuration, image or QEMU is discarded with a notice', async () => {
    const cfg = await loadInstanceConfig(instanceFile(NAME, 'config'));
    expect(await resume({ fingerprint: stateFingerprint({ ...cfg, cpus: 4 }, 'img-1', 'fake-1') })).toBe(
      false,
    );
    expect(notices()).toEqual([
      'discarding the saved state: the configuration, image or QEMU changed since it was saved; cold start',
    ]);
    expect(driver.calls).toEqual([]);
    await discarded();
  });

  it('a driver that cannot resume discards the state with a notice', async () => {
    (driver.features as { suspend: boolean }).suspend = false;
    expect(await resume()).toBe(false);
    expect(notices()).toEqual([
      'discarding the saved state: the fake driver cannot resume a saved state; cold start',
    ]);
    await discarded();
  });

  it('no saved state: nothing said, nothing started', async () => {
    await fsp.rm(stateFile());
    expect(await resume()).toBe(false);
    expect(seen).toEqual([]);
    expect(driver.calls).toEqual([]);
  });
});
