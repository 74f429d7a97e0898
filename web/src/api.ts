import type { Snapshot } from '../../src/dashboard/live.js';
import type { ActionEvent } from '../../src/dashboard/server.js';

export type {
  ContainerRow,
  InstanceSnapshot,
  ShareRow,
  Snapshot,
  VmSample,
} from '../../src/dashboard/live.js';
export type { ActionEvent };

/** An error as berth says it: the message, and the hint when there is one. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly output?: string,
  ) {
    super(message);
  }
}

export async function call<T = unknown>(method: 'GET' | 'POST', url: string, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const type = res.headers.get('Content-Type') ?? '';
  const data = type.includes('json')
    ? ((await res.json()) as Record<string, unknown>)
    : { error: await res.text() };
  if (!res.ok)
    throw new ApiError(
      String(data.error ?? res.statusText),
      data.hint as string | undefined,
      data.output as string | undefined,
    );
  return data as T;
}

export const inst = (name: string) => `/api/instances/${encodeURIComponent(name)}`;

/** The live stream: a snapshot whenever something changed, and the lines of running actions. */
export function follow(
  onSnapshot: (s: Snapshot) => void,
  onAction: (a: ActionEvent) => void,
  onState: (up: boolean) => void,
): () => void {
  const es = new EventSource('/api/events');
  es.addEventListener('snapshot', (e) =>
    onSnapshot(JSON.parse((e as MessageEvent<string>).data) as Snapshot),
  );
  es.addEventListener('action', (e) => onAction(JSON.parse((e as MessageEvent<string>).data) as ActionEvent));
  es.onopen = () => onState(true);
  es.onerror = () => onState(false);
  return () => es.close();
}

export function bytes(n: number | undefined): string {
  if (n === undefined || n < 0) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function since(iso: string | undefined): string {
  if (!iso) return '–';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d`;
}
