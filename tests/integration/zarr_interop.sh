#!/bin/bash
# Zarr interoperability between daisy_array and Debian's python3-zarr.
#
# Runs zarr_interop.py with the system Python (/usr/bin/python3: another
# python3 earlier on PATH may lack python3-zarr). ARRAY_TOOL is the built
# tests/array_tool; it may also be given as the first argument.
# Exit 77 (skip, with the reason printed) only when the system Python or
# python3-zarr is missing; otherwise the script's verdict.
set -u
tool="${1:-${ARRAY_TOOL:-}}"
if [ -z "$tool" ]; then
    echo "FAIL: give the path of array_tool (argument or ARRAY_TOOL)"
    exit 1
fi
if [ ! -x /usr/bin/python3 ]; then
    echo "SKIP: /usr/bin/python3 is not installed (needed with python3-zarr)"
    exit 77
fi
exec /usr/bin/python3 "$(dirname "$0")/zarr_interop.py" "$tool"
