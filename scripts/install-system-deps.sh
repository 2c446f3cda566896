#!/usr/bin/env bash
# System libraries the project needs, from Debian's packages; installs only what is missing.
#   libportaudio2      console mode (sounddevice is imported even with --text)
#   espeak-ng, sox     speech synthesised by the audio tests
#   postgresql         the PostgreSQL server the store tests run against
#   iproute2           `ip`: the private network namespace of the room-level tests
#   nodejs, npm        build the customer web page (web/) with esbuild
#   chromium, chromium-driver  the headless browser the web page tests drive
set -euo pipefail

need=()
ldconfig -p | grep -q 'libportaudio\.so\.2' || need+=(libportaudio2)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || need+=(postgresql)
command -v ip >/dev/null || need+=(iproute2)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)

[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing system packages: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
