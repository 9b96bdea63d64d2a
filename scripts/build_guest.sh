#!/usr/bin/env bash
# Build the reference i386 guest (see pypanda/data/build_guest.sh, which is
# also what `python -m pypanda.guest` runs from an installed wheel).
exec bash "$(dirname "$0")/../pypanda/data/build_guest.sh" "$@"
