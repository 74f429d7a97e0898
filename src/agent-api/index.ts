/**
 * The host agent's API as a leaf module: wire types, the route table and a client. Whoever talks to an agent
 * (CLI, dashboard, cluster controller) imports this, never the daemon (hostagent/).
 */
export * from './events.js';
export * from './ports.js';
export * from './routes.js';
export * from './client.js';
