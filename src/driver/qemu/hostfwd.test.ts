import { describe, expect, it } from 'vitest';
import { hmpFailure, hostfwdAddCommand, hostfwdRemoveCommand, parseUsernet } from './hostfwd.js';

describe('hostfwd over HMP', () => {
  it('builds add and remove commands', () => {
    const f = {
      proto: 'udp' as const,
      hostIP: '127.0.0.1',
      hostPort: 5353,
      guestIP: '10.0.2.16',
      guestPort: 53,
    };
    expect(hostfwdAddCommand(f)).toBe('hostfwd_add net0 udp:127.0.0.1:5353-10.0.2.16:53');
    expect(hostfwdRemoveCommand(f)).toBe('hostfwd_remove net0 udp:127.0.0.1:5353');
  });

  it('reads failures from the HMP text', () => {
    expect(hmpFailure('', 'add')).toBeUndefined();
    expect(hmpFailure("Could not set up host forwarding rule 'tcp:127.0.0.1:80-:80'\r\n", 'add')).toMatch(
      /Could not set up/,
    );
    expect(hmpFailure('host forwarding rule for tcp:127.0.0.1:8080 removed\r\n', 'remove')).toBeUndefined();
    expect(hmpFailure('host forwarding rule for tcp:127.0.0.1:8080 not found\r\n', 'remove')).toMatch(
      /not found/,
    );
  });

  it('parses the forwarding rules out of "info usernet"', () => {
    const text = [
      'Hub -1 (net0):',
      '  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ',
      '  TCP[HOST_FORWARD]  13       127.0.0.1 40022       10.0.2.15    22     0     0',
      '  TCP[ESTABLISHED]   25       10.0.2.15 51234       10.0.2.2     80     0     0',
      '  UDP[HOST_FORWARD]  17               * 5353       10.0.2.16    53     0     0',
      '',
    ].join('\r\n');
    expect(parseUsernet(text)).toEqual([
      { proto: 'tcp', hostIP: '127.0.0.1', hostPort: 40022, guestIP: '10.0.2.15', guestPort: 22 },
      { proto: 'udp', hostIP: '0.0.0.0', hostPort: 5353, guestIP: '10.0.2.16', guestPort: 53 },
    ]);
  });
});
