/** Quotes one argument for a POSIX shell (plain words stay as they are), so it reaches the command unchanged. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_\-./=:,@%+]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}
