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
    // The notice printed again (as progress too), the error's words in its details: still two panics.
    const again = `[  9.5s] ${stderr.split('\n')[0]}\n${stderr}\ndetails: the guest's kernel panicked (Fatal exception in interrupt)`;
    expect(panicTexts(again)).toHaveLength(2);
    expect(panicTexts(stderr.split('\n')[0]!)).toEqual(['Attempted to kill init! exitcode=0x00000100']);
    expect(panicTexts('instance "x" is running')).toEqual([]);
  });
});
