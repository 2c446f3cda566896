#!/usr/bin/env bash
# Runs a command inside a private network namespace made for the room-level tests:
#   lo up, plus a veth pair (lkns0/lkns1) whose one end carries 127.0.0.2/32, IPv6 off.
# libwebrtc never gathers candidates on a loopback interface; it gathers 127.0.0.2 on the veth,
# which the kernel delivers locally. The namespace has no other interface: nothing can leave it.
#   scripts/netns-run.sh CMD...     as root: `unshare -n`; otherwise `unshare -r -n`
#   scripts/netns-run.sh --check    exit 0 when a namespace can be made here, else print why
set -euo pipefail

if [ "${1:-}" = "--inside" ]; then
  shift
  ip link set lo up
  ip link add lkns0 type veth peer name lkns1
  ip addr add 127.0.0.2/32 dev lkns0
  ip link set lkns0 up
  ip link set lkns1 up
  sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
  sysctl -qw net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
  export SHOPME_NETNS=1
  exec "$@"
fi

if ! command -v ip >/dev/null || ! command -v unshare >/dev/null; then
  echo "the room tests need \`ip\` (iproute2) and \`unshare\` (util-linux) to make a network namespace"
  exit 3
fi

if [ "$(id -u)" -eq 0 ]; then
  enter=(unshare -n)
else
  enter=(unshare -r -n)  # needs unprivileged user namespaces
fi

if [ "${1:-}" = "--check" ]; then
  if ! out=$("${enter[@]}" bash "$0" --inside true 2>&1); then
    echo "no private network namespace can be made here (${enter[*]}: ${out//$'\n'/ })"
    exit 3
  fi
  exit 0
fi

exec "${enter[@]}" bash "$0" --inside "$@"
