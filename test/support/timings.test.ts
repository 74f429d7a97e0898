import { describe, expect, it } from 'vitest';
import { panicTexts, progressPhases } from './timings.js';

describe('what the closing table reads from a berth command', () => {
  it('the phases of its progress lines', () => {
    expect(
      progressPhases('[  0.2s] booting the VM\nnotice: x\n[ 11.1s] waiting for Docker Engine\n'),
    ).toEqual([
      [0.2, 'booting the VM'],
      [11.1, 'waiting for Docker Engine'],
    ]);
  });

  it("each panic's words, from the notice of the boot made again and from the error that ended the start", () => {
    const stderr = [
      "notice: the guest's kernel panicked (Attempted to kill init! exitcode=0x00000100) while it booted: booting it once more",
      "berth: error: the host agent stopped before the instance was ready: the guest's kernel panicked (Fatal exception in interrupt)",
    ].join('\n');
    expect(panicTexts(stderr)).toEqual([
      'Attempted to kill init! exitcode=0x00000100',
      'Fatal exception in interrupt',
    ]);
    expect(panicTexts(`${stderr}\n${stderr}`)).toHaveLength(2); // the same lines again are the same panics
    expect(panicTexts('instance "x" is running')).toEqual([]);
  });
});
