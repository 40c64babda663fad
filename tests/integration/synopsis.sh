#!/usr/bin/env bash
# The README's synopsis of each program lists exactly the options its
# --help describes (--help and --version aside): neither a missing option
# nor one that does not exist.
. "$(dirname "$0")/lib.sh"
readme="$EXAMPLES/../README.md"
compare() {  # README heading, program and arguments for --help...
  local heading=$1; shift
  "$@" --help > "$tmpdir/help.txt" 2>&1
  /usr/bin/python3 - "$readme" "$heading" "$tmpdir/help.txt" <<'PY'
import re, sys
readme, heading, help_file = sys.argv[1:]
text = open(readme, encoding="utf-8").read()
start = text.index(f"## `{heading}`")
block = text[start:].split("```\n", 2)[1]           # the first code block of the section
listed = set(re.findall(r"--[a-z][a-z-]*", block))
described = set()
for line in open(help_file, encoding="utf-8"):
    m = re.match(r"\s+(?:-\w,\s+)?(--[a-z][a-z-]*)", line)
    if m:
        described.add(m.group(1))
described -= {"--help", "--version"}
missing, unknown = described - listed, listed - described
if missing or unknown:
    sys.exit(f"{heading}: README synopsis misses {sorted(missing)}, lists unknown {sorted(unknown)}")
PY
}
# Each option's text in --help gives its default once: two (one left from
# an edit) would leave the reader to guess which holds.
defaults_once() {
  "$@" --help 2>&1 | /usr/bin/python3 -c '
import re, sys
opts, cur = {}, None
for line in sys.stdin:
    m = re.match(r"\s+(?:-\w,\s+)?(--[a-z][a-z-]*)", line)
    if m:
        cur = m.group(1)
    elif not line.strip():
        cur = None
    if cur:
        opts[cur] = opts.get(cur, "") + line
twice = [o for o, text in opts.items() if len(re.findall(r"\(default", text)) > 1]
sys.exit(f"defaults given twice: {twice}" if twice else 0)'
}
for c in plan run monitor markers keygen; do
  check "daisy $c --help gives each default once" defaults_once "$DAISY" $c
done
check "daisy-broker --help gives each default once" defaults_once "$BROKER"
check "daisy-worker --help gives each default once" defaults_once "$WORKER"

# A short option the program takes is one its --help shows ("-X, --long"):
# none is accepted in secret. Probed: the first letter of each long option
# the help describes, where a hidden short form would be (a probe costs a
# program start).
shorts_shown() {
  local help letter hidden=""
  help=$("$@" --help 2>&1)
  for letter in $(grep -oE -- '^ +(-[a-zA-Z], +)?--[a-z]' <<< "$help" | grep -oE '[a-z]$' | sort -u); do
    timeout 5 "$@" "-$letter" --help < /dev/null 2>&1 | grep -q "invalid option -- '$letter'" \
      && continue
    grep -Eq "^ +-$letter," <<< "$help" || hidden+=" -$letter"
  done
  [ -z "$hidden" ] || { echo "  $*: accepted, not in --help:$hidden" >&2; return 1; }
}
for c in plan run monitor markers keygen; do
  check "daisy $c takes only the short options its --help shows" shorts_shown "$DAISY" $c
done
check "daisy-broker takes only the short options its --help shows" shorts_shown "$BROKER"
check "daisy-worker takes only the short options its --help shows" shorts_shown "$WORKER"

# `daisy help COMMAND` is `daisy COMMAND --help` (it printed the overview).
for c in plan run monitor markers worker keygen; do
  check "daisy help $c is daisy $c --help" \
    test "$("$DAISY" help $c 2>&1)" = "$("$DAISY" $c --help 2>&1)"
done

check "daisy plan synopsis" compare "daisy plan" "$DAISY" plan
check "daisy run synopsis" compare "daisy run" "$DAISY" run
check "daisy monitor synopsis" compare "daisy monitor" "$DAISY" monitor
check "daisy markers synopsis" compare "daisy markers" "$DAISY" markers
check "daisy-broker synopsis" compare "daisy-broker" "$BROKER"
check "daisy-worker synopsis" compare "daisy-worker" "$WORKER"
finish
