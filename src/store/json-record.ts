import fsp from 'node:fs/promises';
import type { z } from 'zod';
import { BerthError, isErrnoException } from '../util/errors.js';
import { FILES } from './filenames.js';
import { writeFileAtomic } from './instance-store.js';
import { instanceFile } from './paths.js';

/** A typed JSON file in an instance directory, written atomically (0600) and checked when read. */
export interface JsonRecord<T> {
  readonly file: keyof typeof FILES;
  /** undefined when the file does not exist (or, for a `lenient` record, cannot be used). */
  read(instance: string): Promise<T | undefined>;
  write(instance: string, value: T): Promise<void>;
  remove(instance: string): Promise<void>;
}

/**
 * Defines a record. `lenient`: a file that does not parse or match the schema reads as absent (state that is
 * rebuilt anyway, such as the last run's facts); otherwise it is an error naming the file (facts that matter).
 */
export function jsonRecord<S extends z.ZodTypeAny>(
  file: keyof typeof FILES,
  schema: S,
  opts: { lenient?: boolean } = {},
): JsonRecord<z.infer<S>> {
  return {
    file,
    async read(instance) {
      const path = instanceFile(instance, file);
      let text: string;
      try {
        text = await fsp.readFile(path, 'utf8');
      } catch (err) {
        if (isErrnoException(err, 'ENOENT')) return undefined;
        throw err;
      }
      let parsed: z.SafeParseReturnType<unknown, z.infer<S>>;
      try {
        parsed = schema.safeParse(JSON.parse(text));
      } catch (err) {
        if (opts.lenient) return undefined;
        throw new BerthError('BAD_CONFIG', `${path}: not valid JSON`, {
          cause: err,
          hint: 'berth writes this file; restore or remove it',
        });
      }
      if (parsed.success) return parsed.data;
      if (opts.lenient) return undefined;
      const issue = parsed.error.issues[0];
      throw new BerthError(
        'BAD_CONFIG',
        `${path}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
        {
          hint: 'berth writes this file; restore or remove it',
        },
      );
    },
    async write(instance, value) {
      await writeFileAtomic(
        instanceFile(instance, file),
        JSON.stringify(schema.parse(value), null, 2) + '\n',
      );
    },
    async remove(instance) {
      await fsp.rm(instanceFile(instance, file), { force: true });
    },
  };
}
