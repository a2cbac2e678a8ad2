#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls it): installs what the tests need when it is
# missing, then runs every test and prints one summary line ("N passed, N failed").
#
# The tests need Debian's Chromium (/usr/bin/chromium, for the browser tests; Playwright's own browser download does
# not work offline) and Fashion-MNIST, found the way the product finds it: the Datasets settings from the environment
# (Datasets__Folders__0, ...), shared/ beside the checkout, /usr/share/datasets/fashion-mnist (Debian's
# dataset-fashion-mnist package) or the per-user download cache.
set -euo pipefail
cd "$(dirname "$0")"

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1

dotnet build CompressionLab.sln -c Release

# What the tests need and this machine lacks, found before installing anything so that one command covers it all.
# Fashion-MNIST is looked for by the product itself (the CLI's 'datasets': its settings from the environment, shared/
# beside the checkout, Debian's package, the download cache), as the tests do.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
dotnet CompressionLab.Cli/bin/Release/net10.0/compressionlab.dll datasets --json | tail -n 1 | grep -q '"name":"fashion-mnist"' \
    || missing+=(dataset-fashion-mnist)

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "test.sh: installing ${missing[*]} (Debian packages the tests need)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "test.sh: the tests need ${missing[*]}; install with: sudo apt-get install ${missing[*]}" >&2
        exit 2
    fi
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
