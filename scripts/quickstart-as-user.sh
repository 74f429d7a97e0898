#!/usr/bin/env bash
# The README's main job as an ordinary user, the way a new user runs it: run by scripts/test.sh when it runs as
# root (CI), so that CI proves berth works for the user we tell to run it, not only for root.
#   - the user (berth-ci, or $BERTH_TEST_USER) is created when missing: useradd gives it /etc/subuid and
#     /etc/subgid ranges, as on any Debian machine;
#   - it gets its own copy of this checkout (tracked and untracked files: no node_modules, no dist) and runs
#     ./scripts/quickstart.sh with a login's plain environment (its PATH has no /usr/sbin);
#   - its berth state and docker config from an earlier run are removed first; its image cache (built by that
#     user, never copied from root) and its npm cache stay, as root's do between CI runs;
#   - the instance is deleted afterwards: the e2e tests need the two cores.
# Root is used only to create the user and hand it the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "quickstart-as-user: run as root (it creates the user)" >&2; exit 64; }
user=${BERTH_TEST_USER:-berth-ci}
id -u "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
home=$(getent passwd "$user" | cut -d: -f6)
as_user() {
  runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" SHELL=/bin/bash LANG=C.UTF-8 \
    PATH=/usr/local/bin:/usr/bin:/bin "$@"
}
if [ -x "$home/berth/bin/berth" ]; then
  as_user bash -c 'cd ~/berth && ./bin/berth delete default --force' >/dev/null 2>&1 || true
fi
as_user rm -rf "$home/berth" "$home/.berth" "$home/.docker"
as_user mkdir "$home/berth"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ ! -e "$f" ] || printf '%s\0' "$f"; done |
  tar --null -T - -cf - | as_user tar -x -C "$home/berth"

echo "quickstart-as-user: ./scripts/quickstart.sh as $user (uid $(id -u "$user")), from a fresh copy of the checkout" >&2
t0=$(date +%s.%N)
status=0
as_user bash -c 'cd ~/berth && ./scripts/quickstart.sh' || status=$?
t1=$(date +%s.%N)
echo "quickstart-as-user: exit $status after $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s (copy of the checkout → hello-world line)" >&2
if [ "$status" -ne 0 ]; then
  as_user bash -c 'cd ~/berth && ./bin/berth logs default --source serial | tail -n 40' >&2 || true
fi
as_user bash -c 'cd ~/berth && ./bin/berth delete default --force' >/dev/null 2>&1 || true
exit "$status"
