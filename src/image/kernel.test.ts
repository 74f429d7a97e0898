import { describe, expect, it } from 'vitest';
import { hasPvhEntry } from './kernel.js';

/** A minimal 64-bit little-endian ELF with one PT_NOTE segment holding the given notes. */
function elfWithNotes(notes: Array<{ name: string; type: number; desc: Buffer }>): Buffer {
  const pad4 = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const body = Buffer.concat(
    notes.map((n) => {
      const name = Buffer.from(`${n.name}\0`, 'latin1');
      const head = Buffer.alloc(12);
      head.writeUInt32LE(name.length, 0);
      head.writeUInt32LE(n.desc.length, 4);
      head.writeUInt32LE(n.type, 8);
      return Buffer.concat([head, pad4(name), pad4(n.desc)]);
    }),
  );
  const ehdr = Buffer.alloc(64);
  ehdr.writeUInt32BE(0x7f454c46, 0);
  ehdr[4] = 2; // 64-bit
  ehdr[5] = 1; // little-endian
  ehdr.writeBigUInt64LE(64n, 32); // e_phoff
  ehdr.writeUInt16LE(56, 54); // e_phentsize
  ehdr.writeUInt16LE(1, 56); // e_phnum
  const phdr = Buffer.alloc(56);
  phdr.writeUInt32LE(4, 0); // PT_NOTE
  phdr.writeBigUInt64LE(120n, 8); // p_offset
  phdr.writeBigUInt64LE(BigInt(body.length), 32); // p_filesz
  return Buffer.concat([ehdr, phdr, body]);
}

describe('PVH kernel detection', () => {
  const entry = { name: 'Xen', type: 18, desc: Buffer.alloc(4) };

  it('finds the PVH entry note among other notes', () => {
    expect(hasPvhEntry(elfWithNotes([{ name: 'GNU', type: 3, desc: Buffer.alloc(20) }, entry]))).toBe(true);
  });

  it('rejects an ELF without it, and what is not an ELF', () => {
    expect(hasPvhEntry(elfWithNotes([{ name: 'Xen', type: 17, desc: Buffer.alloc(4) }]))).toBe(false);
    expect(hasPvhEntry(elfWithNotes([{ name: 'Linux', type: 18, desc: Buffer.alloc(4) }]))).toBe(false);
    expect(hasPvhEntry(Buffer.from('MZ this is a bzImage, not an ELF'.padEnd(80)))).toBe(false);
  });
});
