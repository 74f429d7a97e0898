import { registerDriver } from '../registry.js';
import { QemuDriver } from './qemu-driver.js';

registerDriver('qemu', () => new QemuDriver());
