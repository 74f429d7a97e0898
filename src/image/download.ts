import fs from 'node:fs';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { BerthError } from '../util/errors.js';

export interface DownloadLimits {
  /** Give up when no byte arrives for this long (connecting included). */
  stallMs: number;
  /** Refuse a body larger than this. */
  maxBytes: number;
  /** Redirects followed at most. */
  maxRedirects: number;
}

export const DOWNLOAD_LIMITS: DownloadLimits = { stallMs: 60_000, maxBytes: 16 * 1024 ** 3, maxRedirects: 5 };

/**
 * Downloads `url` into `file` through `through` (hashing, progress): redirects followed by hand, never from
 * https to plain http; a stall, an oversized body or a bad status is an IMAGE error naming the URL. The caller
 * verifies the content's digest; these bounds keep a hostile or broken server from hanging berth or filling the
 * disk first.
 */
export async function download(
  url: string,
  file: string,
  through: (total: number | undefined) => Transform,
  limits: DownloadLimits = DOWNLOAD_LIMITS,
): Promise<void> {
  const fail = (why: string, cause?: unknown) =>
    new BerthError('IMAGE', `cannot download ${url}: ${why}`, { cause });
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const stall = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => ac.abort(new Error(`nothing arrived for ${limits.stallMs / 1000} s`)),
      limits.stallMs,
    );
  };
  try {
    let at = url;
    let res: Response | undefined;
    for (let hop = 0; ; hop++) {
      stall();
      try {
        res = await fetch(at, { redirect: 'manual', signal: ac.signal });
      } catch (err) {
        throw fail((ac.signal.reason as Error | undefined)?.message ?? (err as Error).message, err);
      }
      if (res.status < 300 || res.status >= 400) break;
      const next = res.headers.get('location');
      if (!next) throw fail(`HTTP ${res.status} without a location`);
      const to = new URL(next, at);
      if (to.protocol !== 'https:' && (new URL(at).protocol === 'https:' || to.protocol !== 'http:'))
        throw fail(`refusing a redirect from ${new URL(at).protocol} to ${to.protocol} (${to.href})`);
      if (hop + 1 > limits.maxRedirects) throw fail(`more than ${limits.maxRedirects} redirects`);
      at = to.href;
    }
    if (!res.ok || !res.body) throw fail(`HTTP ${res.status}`);
    const total = Number(res.headers.get('content-length')) || undefined;
    if (total !== undefined && total > limits.maxBytes)
      throw fail(`${total} bytes, over the limit of ${limits.maxBytes}`);
    let seen = 0;
    const bounded = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        stall();
        seen += chunk.length;
        if (seen > limits.maxBytes) return cb(fail(`more than ${limits.maxBytes} bytes`));
        cb(null, chunk);
      },
    });
    try {
      await pipeline(
        Readable.fromWeb(res.body as ReadableStream),
        bounded,
        through(total),
        fs.createWriteStream(file, { mode: 0o600 }),
      );
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw fail((ac.signal.reason as Error | undefined)?.message ?? (err as Error).message, err);
    }
  } finally {
    clearTimeout(timer);
  }
}
