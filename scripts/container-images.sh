#!/usr/bin/env bash
# Builds the base images Evento's container functions build on, locally from Debian (no image registry
# is needed or used):
#
#   localhost/evento-rootfs:bookworm         debootstrap --variant=minbase bookworm, trimmed
#   localhost/evento-rootfs-python:bookworm  the same plus python3
#   localhost/evento-swift:1                 runtime/containers/swift/Containerfile (static Swift binaries)
#   localhost/evento-python:1                runtime/containers/python/Containerfile (evento_runtime.py)
#
# Idempotent: images that exist are kept; --rebuild builds them again. EVENTO_DEBIAN_MIRROR=URL sets the
# Debian mirror (default: debootstrap's). Needs root (debootstrap) and the
# container engine (EVENTO_CONTAINER_ENGINE, default podman with runc and cgroupfs, which is what works on
# hosts with hybrid cgroups).
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${EVENTO_CONTAINER_ENGINE:-podman --runtime runc --cgroup-manager cgroupfs}
read -r -a engine <<<"$ENGINE"
BUILD_FLAGS=(--ulimit nofile=20000:20000 --ulimit nproc=1024:1024 --network host)
# The Debian mirror: debootstrap's own default unless EVENTO_DEBIAN_MIRROR names one.
MIRROR=${EVENTO_DEBIAN_MIRROR:-}
rebuild=0
[ "${1:-}" = "--rebuild" ] && rebuild=1

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

has_image() { "${engine[@]}" image exists "$1" 2>/dev/null; }

rootfs() { # NAME EXTRA_PACKAGES
  local name=$1 include=$2
  if [ $rebuild -eq 0 ] && has_image "$name"; then return; fi
  local dir
  dir=$(mktemp -d /tmp/evento-rootfs.XXXXXX)
  echo "container-images: debootstrap $name${include:+ (+$include)}"
  $SUDO debootstrap --variant=minbase ${include:+--include=$include} bookworm "$dir" ${MIRROR:+"$MIRROR"} >/dev/null
  # What a function never needs at run time: documentation, manuals, locales, apt's caches and lists.
  $SUDO rm -rf "$dir"/usr/share/{doc,man,info,locale,lintian} "$dir"/var/cache/apt/* "$dir"/var/lib/apt/lists/* \
    "$dir"/var/cache/debconf/*-old "$dir"/var/log/*
  $SUDO tar -C "$dir" -c . | "${engine[@]}" import --message "evento base: debootstrap minbase bookworm${include:+ +$include}" - "$name" >/dev/null
  $SUDO rm -rf "$dir"
}

image() { # NAME CONTAINERFILE CONTEXT
  local name=$1 file=$2 context=$3
  if [ $rebuild -eq 0 ] && has_image "$name"; then return; fi
  echo "container-images: build $name"
  "${engine[@]}" build "${BUILD_FLAGS[@]}" -q -f "$file" -t "$name" "$context" >/dev/null
}

rootfs localhost/evento-rootfs:bookworm ""
rootfs localhost/evento-rootfs-python:bookworm python3
image localhost/evento-swift:1 runtime/containers/swift/Containerfile runtime
image localhost/evento-python:1 runtime/containers/python/Containerfile runtime
"${engine[@]}" images --filter reference='localhost/evento-*' --format '{{.Repository}}:{{.Tag}}  {{.Size}}'
