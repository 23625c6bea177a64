#!/usr/bin/env bash
# Installs what Portside needs, idempotently.
#   scripts/install.sh          Python package into .venv (enough for `portside serve`)
#   scripts/install.sh --test   also the test tools: Debian packages for the real clients
#                               (docker.io, podman, skopeo, umoci), the reference registry
#                               and wrk, and the Python test extras
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "install: creating .venv"
    "$PYTHON" -m venv .venv
fi

# Debian packages: only those whose command is missing, so a prepared machine pays nothing.
apt_needed=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || apt_needed+=("$2"); }
if [ "$want_test" = 1 ]; then
    need_cmd dockerd docker.io
    need_cmd podman podman
    need_cmd skopeo skopeo
    need_cmd umoci umoci
    need_cmd newuidmap uidmap
    # The reference registry (distribution 2.8) and a load generator, for comparisons and the
    # benchmark (`make bench`).
    need_cmd docker-registry docker-registry
    need_cmd wrk wrk
    need_cmd ab apache2-utils
    need_cmd curl curl
    # PostgreSQL for the metadata suite; Debian keeps initdb off PATH.
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_needed+=(postgresql)
    # nginx balances the multi-node tests; npm brings Azurite, the Azure Blob emulator.
    need_cmd nginx nginx-light
    need_cmd npm npm
    # Headless Chromium for the portal's browser tests (driven by Playwright from PyPI).
    need_cmd chromium chromium
fi
if [ ${#apt_needed[@]} -gt 0 ]; then
    echo "install: apt-get install ${apt_needed[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${apt_needed[@]}" >/dev/null
fi

# The Python package itself, editable, with test extras when asked. The stamp avoids re-running
# pip when nothing in pyproject.toml changed.
extras=""
[ "$want_test" = 1 ] && extras="[test]"
stamp=".venv/.portside-installed${extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "install: pip install -e .${extras}"
    .venv/bin/pip install -q --disable-pip-version-check -U pip >/dev/null
    .venv/bin/pip install -q --disable-pip-version-check -e ".${extras}"
    touch "$stamp"
fi
# Bytecode for Portside's own modules: an editable install compiles nothing, and where
# PYTHONDONTWRITEBYTECODE is set (containers, CI) every `portside serve` would compile its
# ~300 modules again before the first answer (a tenth of a second of CPU). Up-to-date files
# are skipped, so this is quick when nothing changed.
.venv/bin/python -m compileall -q -j 0 src/portside >/dev/null

# Azurite (Azure Blob emulator, from npm) for the storage suite, in a project-local folder.
if [ "$want_test" = 1 ] && [ ! -x .tools/node_modules/.bin/azurite-blob ]; then
    echo "install: npm install azurite"
    npm install --prefix .tools --no-audit --no-fund --loglevel=error azurite >/dev/null
fi

# axe-core (accessibility rules, from npm) for the portal's browser tests, in the same folder.
if [ "$want_test" = 1 ] && [ ! -f .tools/node_modules/axe-core/axe.min.js ]; then
    echo "install: npm install axe-core"
    npm install --prefix .tools --no-audit --no-fund --loglevel=error axe-core >/dev/null
fi
