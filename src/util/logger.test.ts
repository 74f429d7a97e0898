import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fileLogger } from './logger.js';

describe('fileLogger', () => {
  it('a log file that cannot be written (a full disk: /dev/full) does not end the process', () => {
    const fd = fs.openSync('/dev/full', 'w');
    try {
      const errors: string[] = [];
      const log = fileLogger(fd, 'info', (err) => errors.push((err as NodeJS.ErrnoException).code ?? ''));
      // Without a listener, sonic-boom's 'error' is thrown out of log.info.
      expect(() => {
        for (let i = 0; i < 5000; i++)
          log.info({ i, pad: 'x'.repeat(400) }, 'a line the disk has no room for');
      }).not.toThrow();
      expect(errors.length).toBeGreaterThan(0);
      expect(new Set(errors)).toEqual(new Set(['ENOSPC']));
    } finally {
      fs.closeSync(fd);
    }
  });
});
