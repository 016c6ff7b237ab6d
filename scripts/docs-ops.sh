#!/usr/bin/env bash
# Regenerates the op reference in docs/language.md from the registry (`avc ops --markdown`);
# tests/docs.rs fails until this is run after an op changes.
set -euo pipefail
cd "$(dirname "$0")/.."
ref=$(mktemp)
target/release/avc ops --markdown > "$ref"
python3 - "$ref" <<'PY'
import sys
ref = open(sys.argv[1]).read()
path = "docs/language.md"
text = open(path).read()
begin, end = "<!-- ops:begin -->", "<!-- ops:end -->"
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(path, "w").write(head + begin + "\n" + ref + end + tail)
PY
rm -f "$ref"
