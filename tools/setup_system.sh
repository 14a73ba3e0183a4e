#!/bin/sh
# Installs the Debian packages that tests and the demo need (run by `make`).
# Real peers for the host tests: chrony (NTP and NTS server), faketime (a
# chronyd whose clock is off), wrk (HTTP load generator for the benchmark),
# postgresql + libpq5 (the audit log's PostgreSQL store; tests run their own server).
# systemd (systemd-analyze verifies the unit in packaging/). The board
# builds: gcc-multilib (32-bit Unix port), gcc-arm-none-eabi and
# libnewlib-arm-none-eabi (the emulated board), qemu-system-arm (runs it).
# Needs root on Debian; prints what is missing otherwise.
set -e
PKGS="chrony faketime wrk postgresql libpq5 systemd gcc-multilib gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup_system: please install:$missing (needs root on Debian)" >&2
    exit 1
fi
echo "setup_system: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d stops the package from starting the system chronyd: tests start
# their own unprivileged servers on loopback and must never touch the clock.
# The trap removes it on every exit, a failed install included (left behind,
# it would stop every service the system installs later).
if [ ! -e /usr/sbin/policy-rc.d ]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
fi
apt-get install -y -qq --no-install-recommends $missing >/dev/null
exit 0
