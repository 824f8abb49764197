#!/usr/bin/env bash
# A documented check (not part of `make test`): render what attncli exports the way a reader sees it.
#   - the SVG and HTML of a real run, screenshotted by headless Chromium (Debian's `chromium` package);
#   - the LaTeX tables compiled by pdflatex (Debian's `texlive-latex-base`) and turned into PNG pages.
# Look at the PNGs in $OUT afterwards. Needs: apt-get install chromium texlive-latex-base poppler-utils
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/attn-exports}
ATTN=${ATTN:-.venv/bin/attn}
mkdir -p "$OUT"
"$ATTN" compute --sample cat-sits --save-svg "$OUT/cat-sits.svg" --save-html "$OUT/cat-sits.html" > /dev/null
for f in cat-sits.svg cat-sits.html; do
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --window-size=900,1400 \
    --screenshot="$OUT/${f%.*}-${f##*.}.png" "file://$(realpath "$OUT/$f")" 2> /dev/null
done
{
  echo '\documentclass{article}\begin{document}'
  "$ATTN" compute --sample causal-4x4 --format latex
  echo '\end{document}'
} > "$OUT/causal-4x4.tex"
(cd "$OUT" && pdflatex -interaction=nonstopmode -halt-on-error causal-4x4.tex > /dev/null && pdftoppm -png -r 80 causal-4x4.pdf causal-4x4)
ls -1 "$OUT"/*.png
