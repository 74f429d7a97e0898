import { execa } from 'execa';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BERTH_BIN } from '../support/env.js';
import { startWatcher, toolsContext } from '../support/images.js';
import { otherUser, serveFile, type OtherUser } from '../support/other-user.js';
import { processesMatching } from '../support/proc.js';
import { waitFor } from '../support/wait.js';

// berth as an ordinary user, with the guest image that user built itself (mmdebstrap in a user namespace: no
// image from root). In CI, scripts/quickstart-as-user.sh has run the quickstart as the same user just before,
// so its cache holds that build; run alone, the start below builds it (about a minute). Creating the user
// needs root, which CI has. One instance covers what depends on who runs berth: the image's owners and modes,
// QEMU's owner, shares, a synchronised folder, file events and the docker CLI plugins.
const USER = 'berth-ci';
const NAME = 'user1';
const isRoot = process.getuid?.() === 0;

describe.runIf(isRoot)('an ordinary user, with the image it built', () => {
  let user: OtherUser;
  let shared: string;
  let synced: string;
  let sock: string;
  let qemuPid: number;
  const docker = (args: string[]) => user.run(['docker', ...args]);
  const inGuest = async (cmd: string) => {
    const r = await user.berth(['ssh', NAME, '--', 'sh', '-c', cmd]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
  };

  beforeAll(async () => {
    user = await otherUser(USER);
    shared = path.join(user.home, 'e2e-shared');
    synced = path.join(user.home, 'e2e-synced');
    const conf = path.join(user.home, '.berth', NAME, 'berth.yaml');
    const setup = await user.run([
      'sh',
      '-c',
      'rm -rf "$1" "$2" && mkdir -p "$1/watch" "$2/src" && echo v1 > "$2/src/app.js" && mkdir -p -m 700 "$(dirname "$3")" && printf "cpus: 2\\nmemory: 1GiB\\nmounts:\\n  - location: \\"~\\"\\n  - location: %s\\n    sync: true\\n" "$2" > "$3"',
      'sh',
      shared,
      synced,
      conf,
    ]);
    expect(setup.code, setup.stderr).toBe(0);
    expect(fs.existsSync(BERTH_BIN)).toBe(true);
    const s = await user.berth(['start', NAME]);
    if (s.code !== 0) throw new Error(`berth start as ${USER} failed (${s.code}):\n${s.stderr}`);
    sock = s.stdout.trim();
    const pids = await processesMatching(`berth-${NAME} -machine`);
    expect(pids).toHaveLength(1);
    qemuPid = pids[0]!;
  }, 600_000);

  afterAll(async () => {
    await user?.berth(['delete', NAME, '--force']);
    await user?.run(['rm', '-rf', shared, synced]);
    await user?.dispose();
  });

  it('boots the image the user built: in its own cache, owned by it, and QEMU runs as the user', async () => {
    expect(sock).toBe(`${user.home}/.berth/${NAME}/docker.sock`);
    const info = JSON.parse(
      await fsp.readFile(path.join(user.home, '.berth', NAME, 'instance.json'), 'utf8'),
    ) as {
      imageDir?: string;
    };
    const dir = info.imageDir ?? '';
    expect(dir).toMatch(new RegExp(`^${user.home}/\\.cache/berth/images/built-x86_64-`));
    for (const f of ['rootfs.qcow2', 'vmlinuz', 'initrd.img']) {
      expect(fs.statSync(path.join(dir, f)).uid, f).toBe(user.uid);
    }
    const owner = await execa('stat', ['-c', '%U', `/proc/${qemuPid}`]);
    expect(owner.stdout.trim()).toBe(USER);
    // As a user, QEMU serves shares with the none model (as root: mapped-xattr, without capabilities).
    expect((await fsp.readFile(`/proc/${qemuPid}/cmdline`, 'utf8')).split('\0').join(' ')).toMatch(
      /security_model=none/,
    );
  });

  it("keeps root's owners, modes and set-id bits inside the guest, as a root build does", async () => {
    const st = (paths: string[]) => inGuest(`stat -c '%n %u:%g %a' ${paths.join(' ')}`);
    expect(
      (await st(['/usr/local/sbin/berth-init', '/etc/shadow', '/usr/bin/passwd', '/usr/bin/su'])).split('\n'),
    ).toEqual([
      '/usr/local/sbin/berth-init 0:0 755',
      '/etc/shadow 0:42 640',
      '/usr/bin/passwd 0:0 4755',
      '/usr/bin/su 0:0 4755',
    ]);
    // Every set-id program of the root filesystem: owned by root (a set-gid one by its group), none by an
    // id from the build user's namespace.
    const setid = (await inGuest('find / -xdev -type f -perm /6000 -printf "%p %U:%G %m\\n" | sort')).split(
      '\n',
    );
    expect(setid.length).toBeGreaterThanOrEqual(5);
    for (const l of setid) expect(l).toMatch(/ 0:(0|42|101) [246]755$/);
    // Nothing in the image belongs to an id outside the system's own (0–999): not the build user's own uid, not
    // the overflow id (65534) an id unmapped in the build namespace would have become. (/home holds the shares.)
    expect(
      await inGuest('find / -xdev -path /home -prune -o \\( -uid +999 -o -gid +999 \\) -print | head -n 5'),
    ).toBe('');
  });

  it('runs containers through the host docker CLI, with compose and buildx installed for the user', async () => {
    const ctx = await toolsContext();
    const b = await docker(['build', '-q', '-t', 'tools:user', ctx]);
    expect(b.code, b.stderr).toBe(0);
    const r = await docker(['run', '--rm', 'tools:user', 'id', '-u']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('0');
    const viaHost = await user.run(['docker', 'version', '--format', '{{.Server.Os}}'], {
      DOCKER_HOST: `unix://${sock}`,
    });
    expect(viaHost.stdout.trim()).toBe('linux');
    // The plugins berth start put in the user's ~/.docker/cli-plugins (the user has none of its own).
    for (const plugin of ['compose', 'buildx']) {
      const file = path.join(user.home, '.docker', 'cli-plugins', `docker-${plugin}`);
      expect(fs.statSync(file).uid, file).toBe(user.uid);
      const v = await docker([plugin, 'version']);
      expect(v.code, v.stderr).toBe(0);
    }
    const project = path.join(shared, 'compose');
    const w = await user.run([
      'sh',
      '-c',
      'mkdir -p "$1" && printf "services:\\n  hello:\\n    image: tools:user\\n    command: sh -c \\"echo from-compose > /out/compose.txt\\"\\n    volumes: [\\"./:/out\\"]\\n" > "$1/compose.yaml"',
      'sh',
      project,
    ]);
    expect(w.code, w.stderr).toBe(0);
    const up = await user.run([
      'docker',
      'compose',
      '--project-directory',
      project,
      'up',
      '--abort-on-container-exit',
    ]);
    expect(up.code, up.stderr).toBe(0);
    expect(fs.readFileSync(path.join(project, 'compose.txt'), 'utf8')).toBe('from-compose\n');
    expect(fs.statSync(path.join(project, 'compose.txt')).uid).toBe(user.uid);
    const bx = await docker(['buildx', 'build', '-q', '-t', 'tools:buildx', ctx]);
    expect(bx.code, bx.stderr).toBe(0);
    await user.run(['docker', 'compose', '--project-directory', project, 'down']);
  });

  it('a file a root container writes in the shared home belongs to the user, with its mode and link', async () => {
    const w = await docker([
      'run',
      '--rm',
      '-v',
      `${shared}:/h`,
      'tools:user',
      'sh',
      '-c',
      'echo hi > /h/from-container.txt && chmod 640 /h/from-container.txt && ln -s from-container.txt /h/from-container.link',
    ]);
    expect(w.code, w.stderr).toBe(0);
    const made = fs.lstatSync(path.join(shared, 'from-container.txt'));
    expect(made.uid).toBe(user.uid);
    expect(made.mode & 0o7777).toBe(0o640);
    expect(fs.readlinkSync(path.join(shared, 'from-container.link'))).toBe('from-container.txt');
  });

  it("a container's watcher sees the user's edits in a share", async () => {
    const logs = await startWatcher(docker, 'watcher', `${shared}/watch`, 'tools:user');
    const e = await user.run(['sh', '-c', 'echo edit > "$1/watch/edited.txt"', 'sh', shared]);
    expect(e.code, e.stderr).toBe(0);
    await waitFor(async () => (await logs()).includes('/w/edited.txt'), 5000, 'the event of the user’s edit');
    await docker(['rm', '-f', 'watcher']);
  });

  it('a synchronised folder crosses both ways with the user as the owner on the host', async () => {
    // In the guest the folder is its own disk's (ext4), with the host's content from the start.
    expect(await inGuest(`stat -f -c %T ${synced}`)).toMatch(/^ext2\/ext3$/);
    const r = await docker([
      'run',
      '--rm',
      '-v',
      `${synced}:/w`,
      'tools:user',
      'sh',
      '-c',
      'cat /w/src/app.js && echo from-container > /w/c.txt && chmod 640 /w/c.txt',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('v1');
    const c = path.join(synced, 'c.txt');
    const st = await waitFor(
      async () => {
        const s = fs.statSync(c, { throwIfNoEntry: false });
        return s && (s.mode & 0o7777) === 0o640 ? s : undefined;
      },
      10000,
      "the container's file on the host",
    );
    expect(st.uid).toBe(user.uid);
    expect(fs.readFileSync(c, 'utf8')).toBe('from-container\n');
    const h = await user.run(['sh', '-c', 'echo from-host > "$1/src/h.txt"', 'sh', synced]);
    expect(h.code, h.stderr).toBe(0);
    await waitFor(
      async () => (await inGuest(`cat ${synced}/src/h.txt 2>/dev/null || true`)) === 'from-host' || undefined,
      10000,
      "the user's file in the guest",
    );
  });

  it('a wrong image digest is refused and nothing is cached', async () => {
    const junk = path.join(await fsp.mkdtemp('/tmp/berth-junk-'), 'berth-image.tar');
    await fsp.writeFile(junk, 'not an image\n');
    const served = await serveFile(junk);
    try {
      const r = await user.berth(['image', 'import', served.url, '--sha256', '0'.repeat(64)]);
      expect(r.code).toBe(74);
      expect(r.stderr).toMatch(/digest mismatch/);
      expect(
        fs
          .readdirSync(path.join(user.home, '.cache', 'berth', 'images'))
          .filter((n) => n.startsWith('sha256-')),
      ).toEqual([]);
    } finally {
      served.close();
      await fsp.rm(path.dirname(junk), { recursive: true, force: true });
    }
  });
});
