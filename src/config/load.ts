import fsp from 'node:fs/promises';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { ZodIssue } from 'zod';
import { BerthError, isErrnoException } from '../util/errors.js';
import { instanceConfigSchema, type InstanceConfig } from './schema.js';

interface Located {
  line?: number;
  col?: number;
}

function locate(doc: Document, lc: LineCounter, path: (string | number)[], key?: string): Located {
  let node: unknown = doc.contents;
  let offset: number | undefined = (doc.contents as { range?: [number] } | null)?.range?.[0];
  for (const seg of path) {
    if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as { range?: [number] } | undefined;
      if (!item) break;
      node = item;
      offset = item.range?.[0] ?? offset;
      continue;
    }
    if (!isMap(node)) break;
    const pair = node.items.find((p) => isScalar(p.key) && p.key.value === seg);
    if (!pair) break;
    offset = (pair.key as { range?: [number] }).range?.[0] ?? offset;
    node = pair.value;
    const valueOffset = (pair.value as { range?: [number] } | null)?.range?.[0];
    if (valueOffset !== undefined) offset = valueOffset;
  }
  if (key && isMap(node)) {
    const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
    const o = (pair?.key as { range?: [number] } | undefined)?.range?.[0];
    if (o !== undefined) offset = o;
  }
  if (offset === undefined) return {};
  const pos = lc.linePos(offset);
  return { line: pos.line, col: pos.col };
}

/** A field path as the user reads it: portForwards[1].hostPort. */
export function fieldName(path: (string | number)[]): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

function describeIssue(issue: ZodIssue): { field: string; message: string; key?: string } {
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    return { field: fieldName([...issue.path, key]), message: `unknown field "${key}"`, key };
  }
  return { field: fieldName(issue.path) || '(root)', message: issue.message };
}

export function formatIssue(file: string, loc: Located, field: string, message: string): string {
  const where = loc.line ? `${file}:${loc.line}:${loc.col}` : file;
  return `${where}: ${field}: ${message}`;
}

/** Parses and validates instance YAML text; every problem names file, line and field. */
export function parseInstanceConfig(text: string, file: string): InstanceConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lc.linePos(e.pos[0]);
    throw new BerthError(
      'BAD_CONFIG',
      `${file}:${pos.line}:${pos.col}: invalid YAML: ${e.message.split('\n')[0]}`,
      {
        hint: 'fix the YAML syntax (indentation, colons, quotes)',
      },
    );
  }
  let raw: unknown;
  try {
    // maxAliasCount: an alias bomb (a billion laughs) is refused, not expanded.
    raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    throw new BerthError(
      'BAD_CONFIG',
      `${file}:1:1: invalid YAML: ${(err as Error).message.split('\n')[0]}`,
      {
        hint: 'write the values out instead of repeating aliases (*name)',
      },
    );
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new BerthError('BAD_CONFIG', `${file}:1:1: the file must be a mapping of fields (like "cpus: 2")`);
  }
  const res = instanceConfigSchema.safeParse(raw);
  if (!res.success) {
    const lines = res.error.issues.map((issue) => {
      const d = describeIssue(issue);
      // A docker: setting berth refuses: point at its name, as for an unknown field.
      const named = issue.path[0] === 'docker' && issue.path.length === 2 && issue.code === 'custom';
      const loc = named
        ? locate(doc, lc, issue.path.slice(0, 1), String(issue.path[1]))
        : locate(doc, lc, issue.path, d.key);
      return formatIssue(file, loc, d.field, d.message);
    });
    const engine = res.error.issues[0]?.path[0] === 'docker';
    throw new BerthError('BAD_CONFIG', lines[0]!, {
      details: lines.slice(1).join('\n') || undefined,
      hint: engine
        ? "docker: takes dockerd's daemon.json settings (https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file), except the socket, paths and TLS, which berth sets"
        : `see "berth start --help" or docs for the fields: ${Object.keys(instanceConfigSchema.shape).join(', ')}`,
    });
  }
  return res.data;
}

export async function loadInstanceConfig(file: string): Promise<InstanceConfig> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (isErrnoException(err, 'ENOENT')) throw new BerthError('NOT_FOUND', `${file} does not exist`);
    throw err;
  }
  return parseInstanceConfig(text, file);
}
