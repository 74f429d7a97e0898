import tseslint from 'typescript-eslint';

/**
 * The rooms of src/ and what each may import (docs/architecture.md, "Rooms and the import rule"). Arrows
 * point down: a room imports only rooms listed for it here, never one above it. Lint fails on an import that
 * runs up the order.
 */
const ROOMS = {
  cli: [
    'cluster',
    'dashboard',
    'hostagent',
    'instance',
    'runtime',
    'driver',
    'forward',
    'share',
    'guest',
    'image',
    'config',
    'store',
    'agent-api',
    'util',
  ],
  cluster: ['instance', 'runtime', 'image', 'config', 'store', 'guest', 'agent-api', 'util'],
  dashboard: ['instance', 'runtime', 'driver', 'share', 'config', 'store', 'guest', 'agent-api', 'util'],
  hostagent: [
    'instance',
    'runtime',
    'driver',
    'forward',
    'share',
    'guest',
    'image',
    'config',
    'store',
    'agent-api',
    'util',
  ],
  instance: [
    'runtime',
    'driver',
    'forward',
    'share',
    'guest',
    'image',
    'config',
    'store',
    'agent-api',
    'util',
  ],
  runtime: ['guest', 'config', 'store', 'util'],
  forward: ['driver', 'config', 'agent-api', 'util'],
  share: ['guest', 'config', 'store', 'util'],
  driver: ['image', 'config', 'store', 'util'],
  image: ['guest', 'config', 'store', 'util'],
  guest: ['config', 'store', 'util'],
  config: ['util'],
  store: ['util'],
  'agent-api': ['util'],
  util: [],
};

const roomRules = Object.entries(ROOMS).map(([room, allowed]) => {
  const forbidden = Object.keys(ROOMS).filter((r) => r !== room && !allowed.includes(r));
  return {
    files: [`src/${room}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidden.map((r) => ({
            group: [`**/${r}/**`, `../${r}/*`],
            message: `src/${room} may not import src/${r}: imports point down the room order (eslint.config.js, docs/architecture.md).`,
          })),
        },
      ],
    },
  };
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  ...roomRules,
);
