#!/bin/sh
# Lints the guest tree (called by "npm run lint"): perl -c on every Perl file, shellcheck on every shell script.
# A file is Perl by its name (.pl, .t) or its #! line (perl), shell by its name (.sh) or its #! line (sh, bash,
# busybox sh); a file with any other #! line fails, so nothing new goes unchecked. perl -c must say nothing
# but "syntax OK": its warnings fail too.
set -eu
cd "$(dirname "$0")/.."
command -v shellcheck >/dev/null 2>&1 || {
  echo "lint-guest: shellcheck is missing (apt-get install shellcheck, or run scripts/setup.sh)" >&2
  exit 1
}
files=$(find guest -type f | sort)
case "$files" in *' '* | *'	'*)
  echo "lint-guest: a file name under guest/ has a space or a tab" >&2
  exit 1 ;;
esac
status=0
perl=''
shell=''
for f in $files; do
  case "$f" in
    *.pl | *.t) perl="$perl $f"; continue ;;
    *.sh) shell="$shell $f"; continue ;;
  esac
  first=$(head -n 1 "$f")
  case "$first" in
    '#!'*perl*) perl="$perl $f" ;;
    '#!'*sh | '#!'*sh' '*) shell="$shell $f" ;;
    '#!'*) echo "lint-guest: $f: no linter for its #! line: $first" >&2; status=1 ;;
  esac
done
for f in $perl; do
  if ! out=$(perl -c "$f" 2>&1) || [ "$out" != "$f syntax OK" ]; then
    printf '%s\n' "$out" >&2
    status=1
  fi
done
# shellcheck disable=SC2086 # one word per file (no spaces: checked above)
[ -z "$shell" ] || shellcheck $shell || status=1
exit "$status"
