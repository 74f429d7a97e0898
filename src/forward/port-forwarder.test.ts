import { describe, expect, it } from 'vitest';
import net from 'node:net';
import pino from 'pino';
import { parseInstanceConfig } from '../config/load.js';
import type { HostForward, PortForwarding } from '../driver/driver.js';
import { parseListeners, planForward, PortForwarder, probeProblem } from './port-forwarder.js';

const rules = (yaml: string) => parseInstanceConfig(yaml, 'f.yaml').portForwards;

describe('parseListeners', () => {
  it('reads the guest list and skips garbage', () => {
    expect(parseListeners('tcp:8080:any udp:53:lo bogus tcp:0:any tcp:70000:any')).toEqual([
      { proto: 'tcp', port: 8080, bind: 'any' },
      { proto: 'udp', port: 53, bind: 'lo' },
    ]);
    expect(parseListeners('')).toEqual([]);
  });

  it("reads the listening process's name where the guest gives it, only as a safe word", () => {
    expect(
      parseListeners('tcp:8080:any:docker-proxy tcp:9000:lo:node tcp:1:any:a$b tcp:2:any:' + 'x'.repeat(16)),
    ).toEqual([
      { proto: 'tcp', port: 8080, bind: 'any', owner: 'docker-proxy' },
      { proto: 'tcp', port: 9000, bind: 'lo', owner: 'node' },
    ]);
  });
});

describe('planForward', () => {
  const r = rules(`portForwards:
  - guestPort: 8080
    hostPort: 18080
  - guestPortRange: [9000, 9009]
    hostPortRange: [19000, 19009]
    hostIP: 0.0.0.0
  - guestPortRange: [5000, 5999]
    ignore: true
  - guestPort: 53
    proto: udp
    hostPort: 5353
`);
  it('uses the same port on 127.0.0.1 by default', () => {
    expect(planForward({ proto: 'tcp', port: 3000, bind: 'any' }, r)).toEqual({
      ignore: false,
      hostIP: '127.0.0.1',
      hostPort: 3000,
    });
  });
  it('applies the first matching rule: single port, range offset, ignore, proto', () => {
    expect(planForward({ proto: 'tcp', port: 8080, bind: 'any' }, r)).toMatchObject({
      hostPort: 18080,
      hostIP: '127.0.0.1',
      rule: 0,
    });
    expect(planForward({ proto: 'tcp', port: 9003, bind: 'lo' }, r)).toMatchObject({
      hostPort: 19003,
      hostIP: '0.0.0.0',
      rule: 1,
    });
    expect(planForward({ proto: 'udp', port: 5001, bind: 'any' }, r)).toMatchObject({
      ignore: true,
      rule: 2,
    });
    expect(planForward({ proto: 'udp', port: 53, bind: 'any' }, r)).toMatchObject({
      hostPort: 5353,
      rule: 3,
    });
    expect(planForward({ proto: 'tcp', port: 53, bind: 'any' }, r)).toMatchObject({ hostPort: 53 });
  });
  it('never forwards the guest sshd', () => {
    expect(planForward({ proto: 'tcp', port: 22, bind: 'any' }, [])).toMatchObject({ ignore: true });
  });
});

describe('portForwards validation', () => {
  it.each([
    ['portForwards:\n  - hostPort: 80\n', /portForwards\[0\]: give guestPort or guestPortRange/],
    [
      'portForwards:\n  - guestPort: 80\n    ignore: true\n    hostPort: 8080\n',
      /portForwards\[0\]\.ignore: an ignore rule takes no host port/,
    ],
    [
      'portForwards:\n  - guestPortRange: [10, 20]\n    hostPortRange: [10, 15]\n',
      /hostPortRange must be as long/,
    ],
    [
      'portForwards:\n  - guestPort: 80\n    hostIP: localhost\n',
      /portForwards\[0\]\.hostIP: must be an IPv4 address/,
    ],
    ['portForwards:\n  - guestPort: 70000\n', /portForwards\[0\]\.guestPort/],
  ])('rejects %j', (yaml, msg) => {
    expect(() => rules(yaml)).toThrow(msg);
  });
  it('names the line of the bad rule', () => {
    expect(() =>
      rules('cpus: 1\nportForwards:\n  - guestPort: 1\n  - guestPort: 2\n    hostIP: nope\n'),
    ).toThrow(/f\.yaml:5:13: portForwards\[1\]\.hostIP/);
  });
});

class FakeNet implements PortForwarding {
  readonly network = { guest: '10.0.2.15', loopback: '10.0.2.16' };
  forwards: HostForward[] = [];
  async listForwards() {
    return [...this.forwards];
  }
  async addForward(_vm: unknown, f: HostForward) {
    this.forwards.push(f);
  }
  async removeForward(_vm: unknown, f: Pick<HostForward, 'proto' | 'hostIP' | 'hostPort'>) {
    this.forwards = this.forwards.filter(
      (x) => !(x.proto === f.proto && x.hostIP === f.hostIP && x.hostPort === f.hostPort),
    );
  }
}

describe('PortForwarder', () => {
  const log = pino({ level: 'silent' });
  const vm = { pidFile: '/x', controlSocket: '/x' };
  // The tests' ports come from the host's ephemeral range (listen(0)): no exclusion unless a test asks.
  const open = { maxAuto: 256, ephemeral: { first: 65536, last: 65536 } };

  it('adds, keeps, removes forwards as the guest listeners change, and leaves the SSH forward alone', async () => {
    const fake = new FakeNet();
    fake.forwards.push({
      proto: 'tcp',
      hostIP: '127.0.0.1',
      hostPort: 40022,
      guestIP: '10.0.2.15',
      guestPort: 22,
    });
    const pf = new PortForwarder(fake, vm, [], log, () => undefined, open);
    await pf.init(40022);
    await pf.update(parseListeners('tcp:41811:any udp:41812:lo'));
    expect(fake.forwards.map((f) => `${f.proto}:${f.hostPort}>${f.guestIP}:${f.guestPort}`).sort()).toEqual([
      'tcp:40022>10.0.2.15:22',
      'tcp:41811>10.0.2.15:41811',
      'udp:41812>10.0.2.16:41812',
    ]);
    await pf.update(parseListeners('udp:41812:lo'));
    expect(fake.forwards.map((f) => f.hostPort).sort()).toEqual([40022, 41812]);
    expect(pf.list()).toEqual([
      {
        proto: 'udp',
        guestPort: 41812,
        guestBind: 'lo',
        hostIP: '127.0.0.1',
        hostPort: 41812,
        state: 'forwarded',
        rule: undefined,
      },
    ]);
    pf.close();
  });

  it('reports a host port held by another program and keeps forwarding the rest', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const busy = (holder.address() as net.AddressInfo).port;
    const fake = new FakeNet();
    const notices: string[] = [];
    const pf = new PortForwarder(fake, vm, [], log, (m) => notices.push(m), open);
    await pf.init(1);
    await pf.update(parseListeners(`tcp:${busy}:any tcp:41813:any`));
    const st = pf.list();
    expect(st.find((s) => s.guestPort === busy)).toMatchObject({
      state: 'conflict',
      reason: expect.stringMatching(/in use/),
    });
    expect(st.find((s) => s.guestPort === 41813)).toMatchObject({ state: 'forwarded' });
    expect(fake.forwards.map((f) => f.hostPort)).toEqual([41813]);
    expect(notices).toHaveLength(1);
    // Once the other program lets go, the next update forwards it.
    await new Promise<void>((r) => holder.close(() => r()));
    await pf.update(parseListeners(`tcp:${busy}:any tcp:41813:any`));
    expect(pf.list().find((s) => s.guestPort === busy)).toMatchObject({ state: 'forwarded' });
    pf.close();
  });
});

describe('PortForwarder bounds: what a guest can make the host listen on', () => {
  const log = pino({ level: 'silent' });
  const vm = { pidFile: '/x', controlSocket: '/x' };
  const ephemeral = { first: 32768, last: 60999 };

  it("forwards nothing into the host's ephemeral range unless a rule names the port", async () => {
    const fake = new FakeNet();
    const rules = [{ guestPort: 40001, hostIP: '127.0.0.1', proto: 'any', ignore: false }] as never;
    const pf = new PortForwarder(fake, vm, rules, log, () => undefined, { maxAuto: 256, ephemeral });
    await pf.update(parseListeners('tcp:40000:any tcp:40001:any tcp:20000:any'));
    expect(fake.forwards.map((f) => f.hostPort).sort()).toEqual([20000, 40001]);
    expect(pf.list().find((s) => s.guestPort === 40000)).toMatchObject({
      state: 'ignored',
      reason: expect.stringMatching(/ephemeral port range \(32768-60999\).*portForwards/),
    });
    pf.close();
  });

  it("autoForward published: only the engine's publishers without a rule; none: only rules", async () => {
    const listeners = parseListeners(
      'tcp:3000:any:node tcp:8080:any:docker-proxy tcp:9000:any tcp:5000:any:node',
    );
    const rule = [{ guestPort: 5000, hostIP: '127.0.0.1', proto: 'any', ignore: false }] as never;
    const run = async (mode: 'all' | 'published' | 'none') => {
      const fake = new FakeNet();
      const pf = new PortForwarder(
        fake,
        vm,
        rule,
        log,
        () => undefined,
        { maxAuto: 256, ephemeral },
        {
          mode,
          publishers: ['docker-proxy'],
        },
      );
      await pf.update(listeners);
      const list = pf.list();
      pf.close();
      return { ports: fake.forwards.map((f) => f.hostPort).sort(), list };
    };
    expect((await run('all')).ports).toEqual([3000, 5000, 8080, 9000]);
    const published = await run('published');
    expect(published.ports).toEqual([5000, 8080]); // the rule still forwards 5000
    expect(published.list.find((s) => s.guestPort === 3000)).toMatchObject({
      state: 'ignored',
      reason:
        'not a port a container publishes (autoForward: published; listened on by node): name it in portForwards to forward it',
    });
    expect(published.list.find((s) => s.guestPort === 9000)?.reason).toMatch(/by an unknown process/);
    expect((await run('none')).ports).toEqual([5000]);
  });

  it('as root, a port below ip_unprivileged_port_start is refused before QEMU (which holds no capability) is asked', async () => {
    const fake = new FakeNet();
    const notices: string[] = [];
    const pf = new PortForwarder(fake, vm, [], log, (m) => notices.push(m), {
      maxAuto: 256,
      ephemeral: { first: 65536, last: 65536 },
      unprivilegedStart: 1024,
    });
    await pf.update(parseListeners('tcp:80:any tcp:41813:any'));
    expect(fake.forwards.map((f) => f.hostPort)).toEqual([41813]);
    const st = pf.list().find((x) => x.guestPort === 80);
    expect(st?.state).toBe('privileged');
    expect(st?.reason).not.toMatch(/as root/);
    expect(notices).toEqual([
      'guest port tcp/80 not forwarded: host port 80 is privileged here: lower net.ipv4.ip_unprivileged_port_start, or map it to another port with a portForwards rule',
    ]);
    pf.close();
  });

  it('caps automatic forwards (lowest ports first), with one notice; a flood of every port stays under it', async () => {
    const fake = new FakeNet();
    const notices: string[] = [];
    const pf = new PortForwarder(fake, vm, [], log, (m) => notices.push(m), { maxAuto: 5, ephemeral });
    const every = Array.from({ length: 65535 }, (_, i) => `tcp:${i + 1}:any udp:${i + 1}:any`).join(' ');
    await pf.update(parseListeners(every));
    // At most 5 (the lowest ports; as a non-root user the privileged ones among them are refused by the host).
    expect(fake.forwards.length).toBeLessThanOrEqual(5);
    expect(fake.forwards.every((f) => f.hostPort <= 3)).toBe(true);
    // Outside the ephemeral range: 37,303 ports × 2 protocols, less the guest's sshd, less the 5 under the cap.
    expect(pf.list().filter((st) => /over the limit of 5/.test(st.reason ?? ''))).toHaveLength(74600);
    expect(fake.forwards.some((f) => f.hostPort >= 32768 && f.hostPort <= 60999)).toBe(false);
    await pf.update(parseListeners(every));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/more ports than the 5 berth forwards by itself/);
    pf.close();
  });
});

describe('probeProblem', () => {
  it('tells a port in use from a privileged one, with what to do', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    expect(probeProblem(err('EADDRINUSE'), '127.0.0.1', 8080)).toEqual({
      state: 'conflict',
      reason: 'host port 127.0.0.1:8080 is in use by another program',
    });
    const p = probeProblem(err('EACCES'), '127.0.0.1', 80);
    expect(p.state).toBe('privileged');
    expect(p.reason).not.toMatch(/root/);
    expect(p.reason).toMatch(
      /host port 80 is privileged here: .*ip_unprivileged_port_start.*portForwards rule/,
    );
  });
});
