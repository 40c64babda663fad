#!/usr/bin/env bash
# daisy plan --json against the plans Python daisy 1.x computes
# (shared/reference). Skipped only where the reference cases are absent.
. "$(dirname "$0")/lib.sh"
ref="$REFERENCE/check-plans"
if [ ! -x "$ref" ] && [ ! -f "$ref" ]; then
  echo "reference plans not found at $REFERENCE: skipped"
  exit 77
fi
python3 "$ref" "$DAISY"
