#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls it): installs what the tests need when it is
# missing, then runs every test and prints one summary line ("N passed, N failed").
#
# The tests need Debian's Chromium (/usr/bin/chromium, for the browser tests; Playwright's own browser download does
# not work offline) and Fashion-MNIST, found the way the product finds it: Datasets__Folders__0, shared/ beside the
# checkout, /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist package) or the per-user download cache.
set -euo pipefail
cd "$(dirname "$0")"

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1

install() {
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "test.sh: installing $* (Debian packages the tests need)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "$@" >/dev/null
    else
        echo "test.sh: the tests need $*; install with: sudo apt-get install $*" >&2
        exit 2
    fi
}

[ -x /usr/bin/chromium ] || install chromium

dotnet build CompressionLab.sln -c Release

# Ask the product where Fashion-MNIST is (the same search the tests use); without a copy, Debian's package provides it.
if ! dotnet CompressionLab.Cli/bin/Release/net10.0/compressionlab.dll datasets --json | tail -n 1 | grep -q '"name":"fashion-mnist"'; then
    install dataset-fashion-mnist
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
dotnet test CompressionLab.sln -c Release --no-build "$@" 2>&1 | tee "$log" || status=$?

# One plain summary line over all test assemblies.
awk '/^(Passed|Failed)!/ {
        for (i = 1; i <= NF; i++) {
            if ($i == "Failed:") failed += $(i + 1)
            if ($i == "Passed:") passed += $(i + 1)
        }
    }
    END { printf "%d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
