#!/usr/bin/env bash
# daisy plan --json against the plans Python daisy 1.x computes
# (shared/reference). Skipped only where the reference cases are absent.
. "$(dirname "$0")/lib.sh"
ref="$REFERENCE/check-plans"
if [ ! -x "$ref" ] && [ ! -f "$ref" ]; then
  echo "skipped: the reference plans of Python daisy 1.x are not at $REFERENCE" \
       "(they live in ../shared/reference beside the checkout, which a clone without" \
       "../shared lacks; run ../shared/reference/check-plans build/daisy where it exists)"
  exit 77
fi
python3 "$ref" "$DAISY"
