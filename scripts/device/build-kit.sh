#!/usr/bin/env bash
# Builds dist/gpu-kit/, what the GPU machine needs beside the working tree (see docs/gpu.md):
#   bundle.tar.xz   the self-contained bundle (npm run bundle, without the plugin)
#   node.xz         this machine's node binary (the GPU machine may have no Node.js)
#   gl/*.deb        the Vulkan loader (libvulkan1), unpacked there only when it has none
#   summarize.mjs   scripts/device/summarize.ts, bundled
#   MANIFEST.txt    sizes and SHA-256 of the above
# and checks that kit + working tree fit the device tool's 64 MiB. dist/ is git-ignored, so the kit
# travels only when a run names it: carry ["dist/gpu-kit"].
#
#   bash scripts/device/build-kit.sh            (from the repository root)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
KIT=dist/gpu-kit
LIMIT=$((64 * 1024 * 1024))
started=$(date +%s)

rm -rf "$KIT" && mkdir -p "$KIT/gl" "$KIT/.stage"
trap 'rm -rf "$KIT/.stage"' EXIT

echo "== bundle"
npx tsx scripts/build-bundle.ts --out "$KIT/.stage/bundle" --no-plugin
echo "== compress (xz -9)"
tar -C "$KIT/.stage" -cf - bundle | xz -9 -T1 > "$KIT/bundle.tar.xz"
xz -9 -T1 -c "$(command -v node)" > "$KIT/node.xz"

echo "== Vulkan loader"
if ! (cd "$KIT/gl" && apt-get download libvulkan1 >/dev/null 2>&1); then
  # apt's package lists may be missing on a fresh machine (apt-get update once, as root).
  echo "apt-get download libvulkan1 failed: run 'apt-get update' once, then this again." >&2
  exit 1
fi

echo "== summarize.mjs"
npx esbuild scripts/device/summarize.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning --outfile="$KIT/summarize.mjs"

(cd "$KIT" && find . -path ./.stage -prune -o -type f ! -name MANIFEST.txt -print | sort | xargs sha256sum | while read -r sum file; do
  printf '%10d  %s  %s\n' "$(stat -c %s "$file")" "$sum" "$file"
done > MANIFEST.txt)
rm -rf "$KIT/.stage"

kit=$(du -sb "$KIT" | cut -f1)
# What travels besides carried paths: tracked files and untracked files git does not ignore.
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -L -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
total=$((kit + tree))
cat "$KIT/MANIFEST.txt"
awk -v k="$kit" -v t="$tree" -v s=$(( $(date +%s) - started )) 'BEGIN {
  printf "kit %.1f MiB + working tree %.1f MiB = %.1f MiB of the 64 MiB the device tool carries (built in %d s)\n", k / 1048576, t / 1048576, (k + t) / 1048576, s }'
if [ "$total" -gt "$LIMIT" ]; then
  echo "Too big for the device tool: leave something out of the kit (docs/gpu.md)." >&2
  exit 1
fi
