#!/usr/bin/env bash
# Build the sandbox image with no container registry: debootstrap a minimal Debian with
# python3 and pytest from Debian's package mirror, `docker import` it as the base, then
# build Dockerfile.offline on top. Needs root, debootstrap, and a running Docker engine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${DEBIAN_SUITE:-bookworm}
rootfs=$(mktemp -d /tmp/codegen-hook-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
command -v debootstrap >/dev/null || { echo "install debootstrap (apt-get install debootstrap)" >&2; exit 2; }
debootstrap --variant=minbase --include=python3,python3-pytest "$suite" "$rootfs" "$mirror" >&2
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import - codegen-hook-sandbox-base:1 >&2
docker build -q -t "${1:-codegen-hook-sandbox:1}" -f "$here/Dockerfile.offline" "$here" >&2
echo "${1:-codegen-hook-sandbox:1}"
