import { createHash } from 'node:crypto';
import fs from 'node:fs';

/** The sha256 of a file's content, hex, streamed (no whole-file buffer). */
export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}
