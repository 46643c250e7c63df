#!/usr/bin/env bash
# Runs `ovlsim ARGS...` as a user without root, as a rootless container
# runtime would run it: the harness then mounts in a user namespace of its
# own (mounter userns). Without root it runs the command as it is. As root
# it copies the binary, and every absolute path among ARGS, into a scratch
# directory that user can read, and drops to uid and gid 65534 there; the
# copy goes when the command ends.
#
#   tests/harness/unprivileged.sh OVLSIM ARGS...
set -euo pipefail

ovlsim=$1
shift
if [[ $(id -u) -ne 0 ]]; then
  exec "$ovlsim" "$@"
fi
if ! command -v setpriv >/dev/null; then
  echo "skipped: cannot test without root: setpriv (util-linux) is missing"
  exit 0
fi

scratch=$(mktemp -d /tmp/ovlsim-unprivileged.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
chmod 755 "$scratch"
cp "$ovlsim" "$scratch/ovlsim"
args=()
for arg in "$@"; do
  if [[ "$arg" == /* && -e "$arg" ]]; then
    cp -r "$arg" "$scratch/"
    args+=("$scratch/$(basename "$arg")")
  else
    args+=("$arg")
  fi
done
chmod -R a+rX "$scratch"
install -d -o 65534 -g 65534 "$scratch/work"
cd "$scratch/work"
setpriv --reuid=65534 --regid=65534 --clear-groups \
  "$scratch/ovlsim" "${args[@]}"
