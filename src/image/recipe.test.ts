import { describe, expect, it } from 'vitest';
import { defaultRecipe, recipeHash, type ImageRecipe } from './recipe.js';
const DOCKER = {
  packages: ['docker.io'],
  overlay: 'docker',
  engineSocket: '/run/docker.sock',
  dataDir: '/var/lib/docker',
};

describe('recipeHash', () => {
  const base = defaultRecipe('x86_64', DOCKER);
  const withTree = (tree: ImageRecipe['tree']): ImageRecipe => ({ ...base, tree });

  it('is 16 hex digits and the same for the same recipe', () => {
    expect(recipeHash(base)).toMatch(/^[0-9a-f]{16}$/);
    expect(recipeHash(defaultRecipe('x86_64', DOCKER))).toBe(recipeHash(base));
    expect(recipeHash(defaultRecipe('aarch64', DOCKER))).not.toBe(recipeHash(base));
  });

  it("changes with any guest file's content, mode or path", () => {
    const i = base.tree.findIndex((f) => f.path === 'rootfs/etc/fstab');
    const f = base.tree[i]!;
    const swap = (g: typeof f) => withTree(base.tree.map((x, j) => (j === i ? g : x)));
    const hashes = [
      recipeHash(base),
      recipeHash(swap({ ...f, data: Buffer.concat([Buffer.from(f.data), Buffer.from('#\n')]) })),
      recipeHash(swap({ ...f, mode: 0o755 })),
      recipeHash(swap({ ...f, path: 'rootfs/etc/fstab2' })),
      recipeHash(withTree(base.tree.filter((_, j) => j !== i))),
    ];
    expect(new Set(hashes).size).toBe(hashes.length);
    // The order the files come in does not matter.
    expect(recipeHash(withTree([...base.tree].reverse()))).toBe(recipeHash(base));
  });
});
