import { describe, expect, it } from 'vitest';
import { vmEventOf } from './qmp-events.js';

describe('QMP events → VM events', () => {
  it('tells a power-off, a reboot/panic and an outside quit apart', () => {
    expect(vmEventOf({ event: 'SHUTDOWN', data: { guest: true, reason: 'guest-shutdown' } })).toEqual({
      type: 'shutdown',
      guest: true,
      reason: 'guest-shutdown',
    });
    expect(vmEventOf({ event: 'SHUTDOWN', data: { guest: true, reason: 'guest-reset' } })).toMatchObject({
      guest: true,
      reason: 'guest-reset',
    });
    expect(vmEventOf({ event: 'SHUTDOWN', data: { guest: false, reason: 'host-signal' } })).toMatchObject({
      guest: false,
      reason: 'host-signal',
    });
    expect(vmEventOf({ event: 'GUEST_PANICKED', data: { action: 'pause' } })).toMatchObject({
      reason: 'guest-panic',
    });
  });

  it('keeps only the disk errors that paused the VM, and says when the host disk is full', () => {
    expect(
      vmEventOf({
        event: 'BLOCK_IO_ERROR',
        data: {
          device: '',
          'node-name': 'data',
          operation: 'write',
          action: 'stop',
          nospace: true,
          reason: 'No space left on device',
        },
      }),
    ).toEqual({ type: 'io-error', device: 'data', noSpace: true, message: 'No space left on device' });
    expect(
      vmEventOf({ event: 'BLOCK_IO_ERROR', data: { device: 'root', operation: 'read', action: 'report' } }),
    ).toBeUndefined();
    expect(vmEventOf({ event: 'STOP' })).toEqual({ type: 'paused' });
    expect(vmEventOf({ event: 'RESUME' })).toEqual({ type: 'resumed' });
  });

  it('takes nothing on trust: odd shapes and long strings', () => {
    expect(vmEventOf(null)).toBeUndefined();
    expect(vmEventOf('SHUTDOWN')).toBeUndefined();
    expect(vmEventOf({ event: 'RTC_CHANGE', data: {} })).toBeUndefined();
    expect(vmEventOf({ event: 'SHUTDOWN', data: 'x' })).toEqual({
      type: 'shutdown',
      guest: false,
      reason: 'unknown',
    });
    const e = vmEventOf({ event: 'BLOCK_IO_ERROR', data: { action: 'stop', reason: 'x'.repeat(10000) } });
    expect(e).toMatchObject({ device: 'disk', noSpace: false });
    expect((e as { message: string }).message.length).toBe(256);
  });
});
