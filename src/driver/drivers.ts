/**
 * Every VM driver berth has: importing this module registers them (a new driver is a folder with its own
 * register.ts, and one line here). Use driverFor() from registry.ts to get one.
 */
import './qemu/register.js';

export { driverFor, driverNames } from './registry.js';
