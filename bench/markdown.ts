/** Markdown as Prettier writes it, so generated docs pass `npm run lint` as they are. Pure. */

/** A table, left-aligned, each column as wide as its widest cell (at least 3, for the `---`). */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${widths.map((w, i) => (cells[i] ?? '').padEnd(w)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}
