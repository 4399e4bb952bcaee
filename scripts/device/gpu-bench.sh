#!/usr/bin/env bash
# The GPU measurement in one call (docs/gpu.md). On the device machine, from the repository root,
# with the kit carried (bash scripts/device/build-kit.sh first, here):
#
#   device run  carry=["dist/gpu-kit"]  timeout_s=600
#     command: bash scripts/device/gpu-bench.sh
#
# It prints what is there (GPU, driver, Node, Vulkan loader and ICDs, PyTorch), unpacks the kit,
# runs `stylize bench --synthetic` on webgpu and onnx-webgpu at 512/1024/2048 px (each backend and
# size its own process, so one crash loses one figure) with the gradient of each checked against
# onnx-cpu at 512 px, onnx-cpu at 512 px, and the same step in PyTorch (fp32, tf32, bf16 autocast);
# then writes $OUT/gpu-bench.json and a table for the README. Steps run in order of importance and
# stop starting when the time left (DEADLINE_S from the start) would not let them finish.
#
# The first, short call (PROBE_ONLY=1): the probe, the unpacking, and each GPU backend at 64 px for
# one iteration, so the full call's plan can be fixed before it starts.
#
# Dry run on a machine without a GPU (GPU steps say "unavailable"; nothing is unpacked into /):
#   DRY_RUN=1 SIZES="64 96" CPU_SIZE=64 CHECK_SIZE=64 CHECK_BACKENDS="webgpu onnx-webgpu wasm" \
#     TORCH_DEVICE=cpu OUT=.tmp/gpu-dry bash scripts/device/gpu-bench.sh
set -u
KIT=${KIT:-dist/gpu-kit}
OUT=${OUT:-$PWD/.tmp/gpu-out}
WORK=${WORK:-/tmp/stylize-gpu-kit}
DRY_RUN=${DRY_RUN:-0}
PROBE_ONLY=${PROBE_ONLY:-0}
GPU_BACKENDS=${GPU_BACKENDS:-webgpu onnx-webgpu}
SIZES=${SIZES:-512 1024 2048}
CPU_SIZE=${CPU_SIZE:-512}
CHECK_SIZE=${CHECK_SIZE:-512}
CHECK_BACKENDS=${CHECK_BACKENDS:-$GPU_BACKENDS}
ITERATIONS=${ITERATIONS:-5}
TORCH_DEVICE=${TORCH_DEVICE:-cuda}
PYTHON=${PYTHON:-python3}
DEADLINE_S=${DEADLINE_S:-540}
# The card has ~141 GB: no tiling, so a size measures one whole-image step (the default 3 GB assumes small cards).
export STYLIZE_MEMORY_MB=${STYLIZE_MEMORY_MB:-100000}

# Raw results go to $RESULTS and into one JSON at the end: the device tool returns at most 8 files.
RESULTS=$WORK/results
rm -rf "$RESULTS" && mkdir -p "$OUT" "$RESULTS"
exec > >(tee -a "$OUT/gpu-bench.log") 2>&1
START=$(date +%s)
section() { printf '\n== %s  (t=%ss)\n' "$*" $(( $(date +%s) - START )); }
left() { echo $(( DEADLINE_S - ($(date +%s) - START) )); }

# step NAME BUDGET_S STDOUT_FILE COMMAND...: runs COMMAND with a timeout of BUDGET_S, its stdout to
# STDOUT_FILE (- for the log), or skips it when less time than that is left.
step() {
  local name=$1 budget=$2 stdout=$3; shift 3
  section "$name"
  if [ "$(left)" -lt "$budget" ]; then
    echo "skipped: $(left) s left of DEADLINE_S=$DEADLINE_S, this step may take $budget s"
    echo "$name: skipped (time)" >> "$RESULTS/steps.txt"
    return 0
  fi
  local t0=$(date +%s) rc
  if [ "$stdout" = - ]; then timeout --kill-after=10 "$budget" "$@"; else timeout --kill-after=10 "$budget" "$@" > "$stdout"; fi
  rc=$?
  echo "$name: exit $rc$([ $rc = 124 ] && echo ' (timed out)') in $(( $(date +%s) - t0 )) s" | tee -a "$RESULTS/steps.txt"
}

section "probe"
nvidia-smi -L 2>&1 || echo "nvidia-smi: unavailable"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || true
echo "cpus: $(nproc); memory: $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo); uname: $(uname -srm)"
echo "system node: $(command -v node >/dev/null && node --version || echo none)"
echo "vulkan loader: $(ldconfig -p | grep -o 'libvulkan\.so\.1 .*' | head -1 || true)"
for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d; do
  [ -d "$d" ] && echo "ICDs in $d: $(ls "$d" | tr '\n' ' ')"
done
"$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -1

section "unpack the kit"
if [ ! -f "$KIT/bundle.tar.xz" ]; then
  echo "no $KIT/bundle.tar.xz: build it here with scripts/device/build-kit.sh and carry dist/gpu-kit"
  exit 1
fi
(cd "$KIT" && awk '{print $2 "  " $3}' MANIFEST.txt | sha256sum -c --quiet) || { echo "the kit does not match its MANIFEST.txt"; exit 1; }
rm -rf "$WORK/bundle" && tar -C "$WORK" -xJf "$KIT/bundle.tar.xz"
NODE=node
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  xz -dc "$KIT/node.xz" > "$WORK/node" && chmod +x "$WORK/node" && NODE=$WORK/node
fi
echo "node: $NODE $($NODE --version)"
if ! ldconfig -p | grep -q 'libvulkan\.so\.1 '; then
  if [ "$DRY_RUN" = 1 ]; then
    echo "no Vulkan loader; dry run: not unpacking $KIT/gl/*.deb into /"
  else
    for f in "$KIT"/gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    echo "Vulkan loader unpacked: $(ldconfig -p | grep -o 'libvulkan\.so\.1 .*' | head -1)"
  fi
fi
if [ -z "$(ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null)" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  echo "VK_DRIVER_FILES=$VK_DRIVER_FILES"
fi
# bench NAME BUDGET BACKEND SIZE [--check-gradient N]: one process, its JSON to $RESULTS/bench-BACKEND-SIZE.json.
bench() {
  local name=$1 budget=$2 backend=$3 size=$4; shift 4
  step "$name" "$budget" "$RESULTS/bench-$backend-$size.json" \
    "$NODE" "$WORK/bundle/stylize.mjs" bench --synthetic --backends "$backend" --sizes "$size" --iterations "$ITERATIONS" "$@"
}

if [ "$PROBE_ONLY" = 1 ]; then
  for b in $GPU_BACKENDS; do ITERATIONS=1 bench "$b 64 px (probe)" 90 "$b" 64; done
  section "summary"
  "$NODE" "$KIT/summarize.mjs" "$RESULTS" "$OUT/gpu-probe.json"
  exit 0
fi

# In order of importance: the GPU backends at the first size with their gradient checks, PyTorch,
# onnx-cpu, then the larger sizes.
first=${SIZES%% *}
for b in $CHECK_BACKENDS; do
  case " $GPU_BACKENDS " in *" $b "*) bench "$b $first px + gradient at $CHECK_SIZE px" 120 "$b" "$first" --check-gradient "$CHECK_SIZE" ;;
    *) bench "$b $CHECK_SIZE px + gradient" 120 "$b" "$CHECK_SIZE" --check-gradient "$CHECK_SIZE" ;; esac
done
for b in $GPU_BACKENDS; do
  case " $CHECK_BACKENDS " in *" $b "*) ;; *) bench "$b $first px" 90 "$b" "$first" ;; esac
done
step "PyTorch ($TORCH_DEVICE)" 150 - "$PYTHON" scripts/device/torch_step.py --device "$TORCH_DEVICE" --sizes "$(echo $SIZES | tr ' ' ',')" --json "$RESULTS/torch.json"
bench "onnx-cpu $CPU_SIZE px" 90 onnx-cpu "$CPU_SIZE"
for size in ${SIZES#"$first"}; do
  for b in $GPU_BACKENDS; do bench "$b $size px" 120 "$b" "$size"; done
done

section "summary"
"$NODE" "$KIT/summarize.mjs" "$RESULTS" "$OUT/gpu-bench.json"
echo "done in $(( $(date +%s) - START )) s; outputs in $OUT: $(ls "$OUT" | tr '\n' ' ')"
