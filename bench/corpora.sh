#!/usr/bin/env bash
# Real code in ten languages, installed from the package registries, for bench/treesitter.py and
# tests/extractors/treesitter/test_treesitter_corpus.py (which skip a language whose corpus is missing). Idempotent.
#   Debian:  Go (golang-*-dev -> /usr/share/gocode/src), Rust (librust-*-dev -> /usr/share/cargo/registry),
#            C++ (libgtest-dev -> /usr/src/googletest), Ruby (ruby-rack -> /usr/lib/ruby/vendor_ruby),
#            PHP (php-symfony-console -> /usr/share/php), Universal Ctags (the bench's baseline),
#            Java (the JDK's src.zip, from the openjdk-17-source .deb, unpacked, not installed)
#   npm:     typescript, lodash, express, rxjs (JavaScript and TypeScript), edge-js (its C# sources)
#            -> bench/.corpora/npm
#   C:       this Python's own headers (nothing to install)
# C# is thin: edge-js ships about 110 KB of it; no Debian or PyPI package we know ships more.
set -euo pipefail
cd "$(dirname "$0")"
CORPORA="$PWD/.corpora"
mkdir -p "$CORPORA/npm" "$CORPORA/jdk"
if command -v apt-get >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends universal-ctags golang-golang-x-text-dev \
    golang-github-spf13-cobra-dev librust-regex-dev librust-serde-dev librust-tokio-dev libgtest-dev \
    ruby-rack php-symfony-console >/dev/null
  if [ ! -d "$CORPORA/jdk/java.base" ]; then
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -qq openjdk-17-source && dpkg-deb -x openjdk-17-source_*.deb x)
    python3 - "$tmp/x/usr/lib/jvm/openjdk-17/lib/src.zip" "$CORPORA/jdk" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for n in z.namelist():
    if n.startswith(("java.base/java/util/", "java.base/java/lang/", "java.base/java/io/")) and n.endswith(".java"):
        z.extract(n, sys.argv[2])
PY
    rm -rf "$tmp"
  fi
fi
if command -v npm >/dev/null; then
  cd "$CORPORA/npm"
  for spec in typescript@5.9.3 lodash@4.17.21 express@4.21.2 rxjs@7.8.1 edge-js@26.1.0; do
    dir="${spec/@/-}"
    if [ ! -d "$dir/package" ]; then
      npm pack -q "$spec" >/dev/null && mkdir -p "$dir" && tar -xzf "$dir.tgz" -C "$dir" && rm "$dir.tgz"
    fi
  done
fi
echo "corpora ready under $CORPORA and the Debian paths above"
