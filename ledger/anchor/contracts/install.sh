#!/bin/sh
# Installs the pinned npm tools (solc-js, anvil) into ledger/anchor/contracts/node_modules
# from package-lock.json. A no-op once done; reinstalls when the lock file changes.
set -eu
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# npm writes node_modules/.package-lock.json last, so it marks a finished install.
marker="$here/node_modules/.package-lock.json"
if [ ! -f "$marker" ] || [ "$here/package-lock.json" -nt "$marker" ]; then
    npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
fi
