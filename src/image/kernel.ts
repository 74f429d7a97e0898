import fsp from 'node:fs/promises';
import { tempFile } from '../store/filenames.js';

/**
 * x86_64: the bootable kernel berth gives QEMU. Debian ships a bzImage whose payload is xz-compressed; under
 * emulation, SeaBIOS's real-mode path plus decompressing ~60 MB costs about 3 s of every cold start. The
 * uncompressed ELF inside has a PVH entry point (CONFIG_PVH), which QEMU boots directly. Returns false (keep
 * the bzImage) when the payload is not xz or the ELF has no PVH entry. Needs xz (xz-utils) on the host.
 */
export async function extractPvhKernel(bzImage: string, out: string): Promise<boolean> {
  const data = await fsp.readFile(bzImage);
  const at = data.indexOf(XZ_MAGIC);
  if (at < 0) return false;
  const tmp = tempFile(out);
  try {
    // --single-stream: the bytes after the payload (the rest of the bzImage) are ignored.
    const { execa } = await import('execa');
    await execa('xz', ['-dc', '--single-stream'], { input: data.subarray(at), stdout: { file: tmp } });
    if (!hasPvhEntry(await fsp.readFile(tmp))) return false;
    await fsp.rename(tmp, out);
    return true;
  } catch {
    return false;
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const PT_NOTE = 4;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/** True for a 64-bit little-endian ELF with a "Xen" PHYS32_ENTRY note (what QEMU's PVH boot needs). */
export function hasPvhEntry(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) return false;
  const phoff = Number(elf.readBigUInt64LE(32));
  const phentsize = elf.readUInt16LE(54);
  const phnum = elf.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.length || elf.readUInt32LE(ph) !== PT_NOTE) continue;
    const start = Number(elf.readBigUInt64LE(ph + 8));
    const end = Math.min(start + Number(elf.readBigUInt64LE(ph + 32)), elf.length);
    for (let n = start; n + 12 <= end;) {
      const namesz = elf.readUInt32LE(n);
      const descsz = elf.readUInt32LE(n + 4);
      const type = elf.readUInt32LE(n + 8);
      const name = elf.toString('latin1', n + 12, n + 12 + namesz).replace(/\0+$/, '');
      if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY) return true;
      n += 12 + align4(namesz) + align4(descsz);
    }
  }
  return false;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
