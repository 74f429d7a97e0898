import type { InstanceConfig, RuntimeName } from '../config/schema.js';
import type { GuestRuntime } from '../guest/guest-tree.js';

/**
 * What lets host tools find an instance's engine (Docker: a docker context). Optional by nature: a host
 * without the runtime's CLI still gets the socket.
 */
export interface HostIntegration {
  /** What users call it, for messages ("docker context"). */
  readonly noun: string;
  /** The command users type ("docker"). */
  readonly cli: string;
  /** The runtime's CLI is on the host. */
  available(): Promise<boolean>;
  /** The name tools select the instance by (Docker: "berth" for default, "berth-NAME" otherwise). */
  name(instance: string): string;
  /** Points `name(instance)` at the host socket; makes it current when `activate`. Returns the name. */
  ensure(instance: string, hostSocket: string, activate: boolean): Promise<string>;
  /** The name currently selected on the host (undefined when the CLI cannot say). */
  current(): Promise<string | undefined>;
  remove(instance: string): Promise<{ removed: boolean; wasCurrent: boolean }>;
  /** Selects the CLI's own default (away from an instance that is not running); true if it worked. */
  useDefault(): Promise<boolean>;
  /**
   * Environment variables for tools that ignore the CLI's contexts (SDKs, Testcontainers): name → value, or
   * null for a variable to unset.
   */
  env(hostSocket: string, guestSocket: string): Record<string, string | null>;
  /**
   * The CLI's companions that go with the engine (Docker: the compose and buildx plugins): which are missing
   * (a quick look, no network), and installing them (berth start does when some are).
   */
  tools?: { missing(): Promise<string[]>; install(progress: (m: string) => void): Promise<void> };
}

/**
 * A container runtime inside the instance: the seam between berth and the engine. Docker is the first; a
 * second (Podman) is one module implementing this plus its guest overlay.
 */
export interface ContainerRuntime {
  readonly name: RuntimeName;
  /**
   * Its part of the guest image: Debian packages, the overlay guest/runtimes/<overlay>/ (engine configs and
   * engine.pl, the engine's units for berth-init), and the engine's API socket in the guest (what the host
   * socket forwards to, and what the guest waits on before it says ready).
   */
  readonly guest: GuestRuntime;
  /**
   * The engine's settings file for one instance (Docker: daemon.json), handed to the guest at boot (the fw_cfg
   * entry "engine"): berth's defaults, the YAML's section for the engine, and the instance's image store
   * (`containerd` for a new data disk; anything else: the graph driver's, where older instances' images are).
   */
  engineConfig(cfg: InstanceConfig, imageStore: string | undefined): string;
  /**
   * The guest processes that listen for the engine's published ports (Docker: docker-proxy and dockerd, for `-p`): with
   * `autoForward: published` only their listeners are forwarded without a rule.
   */
  readonly publishers: readonly string[];
  /** Readiness: true once the engine answers through the host socket. */
  ping(hostSocket: string, timeoutMs: number): Promise<boolean>;
  readonly host: HostIntegration;
}
