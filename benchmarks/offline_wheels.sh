#!/usr/bin/env bash
# Carry the wheels that the GPU benchmarks need to a GPU machine without internet.
#
# A GPU machine whose image has torch (CUDA build), onnx and the CPU onnxruntime
# but no package index lacks onnxruntime-gpu (about 255 MB, bigger than what one
# transfer may carry on some setups), pydantic and the serve extra. On a machine
# with internet, from the repository root:
#
#     benchmarks/offline_wheels.sh download .whl [PYTHON_VERSION] [BATCH_MB]
#
# downloads them with their dependencies, at the versions of constraints.txt,
# for that Python (default 3.12) on manylinux x86-64, splits them into parts and
# packs the parts into batches of at most BATCH_MB (default 40) each:
# .whl/batch-1, .whl/batch-2, ... (`/.whl/` is in .gitignore). Copy the batches
# to the GPU machine in any order, one or several at a time, and after each copy
# run there, from the repository root:
#
#     benchmarks/offline_wheels.sh install .whl [STASH]
#
# It moves the parts that arrived into STASH (default /tmp/gankit-wheels, outside
# the working tree, so a later copy may replace .whl/), says how many are still
# missing, and once all have arrived it joins them, checks every wheel's SHA-256,
# replaces the CPU onnxruntime with onnxruntime-gpu (the two must never be
# installed together), installs what the image lacks from the stash alone, and
# installs gankit itself (editable, without dependencies or build isolation).
# Then: python benchmarks/sampler.py --sections gpu --json ...
# PYTHON (default python3) names the interpreter whose pip downloads or installs.
set -euo pipefail

PY=${PYTHON:-python3}
# setuptools and wheel: what gankit's editable install builds with (pyproject.toml)
PACKAGES=(onnxruntime-gpu pydantic starlette uvicorn httptools "setuptools>=69" wheel)

usage() {
    sed -n '2,27p' "$0" >&2
    exit 2
}

download() {
    local dir=$1 py=${2:-3.12} batch_mb=${3:-40}
    if [ -e "$dir" ]; then
        echo "$dir exists; remove it or name a new directory" >&2
        exit 1
    fi
    local all=$dir/all
    mkdir -p "$all"
    local platforms=()
    for tag in manylinux_2_{17,24,27,28,31,34}_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
        platforms+=(--platform "$tag")
    done
    "$PY" -m pip download -q --only-binary=:all: --python-version "$py" --implementation cp \
        "${platforms[@]}" --platform any -c constraints.txt -d "$all" "${PACKAGES[@]}"
    # one part per started BATCH_MB of a wheel; MANIFEST: wheel, parts, SHA-256
    local parts=$dir/parts
    mkdir -p "$parts"
    : >"$dir/MANIFEST"
    for whl in "$all"/*.whl; do
        local name
        name=$(basename "$whl")
        split -b "${batch_mb}M" -d -a 3 "$whl" "$parts/$name.part-"
        echo "$name $(find "$parts" -name "$name.part-*" | wc -l) $(sha256sum "$whl" | cut -d' ' -f1)" \
            >>"$dir/MANIFEST"
    done
    rm -rf "$all"
    # batches: parts in order, a new batch when the next part would not fit
    local n=1 used=0 limit=$((batch_mb * 1024 * 1024))
    mkdir -p "$dir/batch-$n"
    for part in $(find "$parts" -type f | sort); do
        local size
        size=$(stat -c %s "$part")
        if ((used > 0 && used + size > limit)); then
            n=$((n + 1)) used=0
            mkdir -p "$dir/batch-$n"
        fi
        mv "$part" "$dir/batch-$n/"
        used=$((used + size))
    done
    rmdir "$parts"
    for b in "$dir"/batch-*; do cp "$dir/MANIFEST" "$b/"; done
    rm "$dir/MANIFEST"
    echo "$n batches of at most ${batch_mb} MiB in $dir:"
    du -sh "$dir"/batch-*
}

install() {
    local dir=$1 stash=${2:-/tmp/gankit-wheels}
    mkdir -p "$stash"
    find "$dir" -type f -name '*.part-*' -exec mv -f {} "$stash/" \;
    local manifest
    manifest=$(find "$dir" -name MANIFEST | head -n 1)
    [ -n "$manifest" ] && cp -f "$manifest" "$stash/MANIFEST"
    [ -f "$stash/MANIFEST" ] || { echo "no MANIFEST in $dir or $stash: copy a batch first" >&2; exit 1; }
    local missing=0
    while read -r name count sha; do
        local have
        have=$(find "$stash" -name "$name.part-*" | wc -l)
        if ((have < count)); then
            missing=$((missing + count - have))
        elif [ ! -f "$stash/$name" ]; then
            cat "$stash/$name".part-* >"$stash/$name"
            echo "$sha  $stash/$name" | sha256sum -c --quiet -
        fi
    done <"$stash/MANIFEST"
    if ((missing > 0)); then
        echo "$missing parts still missing in $stash; copy the other batches and run again"
        exit 0
    fi
    "$PY" -m pip uninstall -y -q onnxruntime 2>/dev/null || true
    "$PY" -m pip install -q --no-index --find-links "$stash" "${PACKAGES[@]}"
    "$PY" -m pip install -q --no-deps --no-build-isolation -e .
    "$PY" -c "import onnxruntime as ort, gankit; print('onnxruntime', ort.__version__, ort.get_available_providers())"
}

case ${1:-} in
    download) [ $# -ge 2 ] || usage; download "${@:2}" ;;
    install) [ $# -ge 2 ] || usage; install "${@:2}" ;;
    *) usage ;;
esac
