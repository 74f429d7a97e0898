import { BerthError } from '../util/errors.js';
import type { Driver } from './driver.js';

/** Drivers register themselves (see qemu/register.ts); drivers.ts imports every one of them. */
const factories = new Map<string, () => Driver>();

export function registerDriver(name: string, factory: () => Driver): void {
  factories.set(name, factory);
}

export function driverNames(): string[] {
  return [...factories.keys()].sort();
}

/** A new driver instance by name (default: the only one today, QEMU). */
export function driverFor(name = 'qemu'): Driver {
  const factory = factories.get(name);
  if (!factory) {
    throw new BerthError('USAGE', `unknown VM driver "${name}"`, {
      hint: `known: ${driverNames().join(', ')}`,
    });
  }
  return factory();
}
