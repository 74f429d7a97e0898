import type { RuntimeName } from '../config/schema.js';
import { dockerRuntime } from './docker/docker-runtime.js';
import type { ContainerRuntime } from './runtime.js';

/** One implementation for every name the schema accepts (the compiler checks none is missing). */
const RUNTIMES: Record<RuntimeName, ContainerRuntime> = {
  docker: dockerRuntime,
};

export function runtimeFor(name: RuntimeName): ContainerRuntime {
  return RUNTIMES[name];
}
