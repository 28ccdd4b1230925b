#!/usr/bin/env bash
# The long reference's trainings (README.md beside this script), as two lanes of one thread each
# under `nice -n 19`: each lane trains its queue in order, and every training resumes from its
# full-state checkpoint under STATE, so after any interruption the script is simply started again:
# a training that finished is marked in STATE/done and skipped (`bench train --resume` refuses a
# checkpoint already at its last step). Stop it cleanly with `pkill -TERM -f "bench train --model"`.
#
#   reference/long-run/train-lanes.sh STATE      # STATE: a folder outside the repository
#
# A queue entry is MODEL:SEED, or MODEL:SEED@STEP to pause at STEP (the learned denoisers, whose
# curves plateau early). The queues put seed 0 first, then seeds 1 and 2 of the compared backbones,
# then the baselines' other seeds and the Appendix C ablations; they are balanced by the measured
# CPU-seconds per step so that both lanes end together.
set -euo pipefail

state="${1:?usage: train-lanes.sh STATE (a folder outside the repository)}"
bench="${BENCH:-bench}"
mkdir -p "$state/checkpoints" "$state/results" "$state/logs" "$state/done"

train() {
    local model="${1%%:*}" seed="${1#*:}" pause=()
    if [[ "$seed" == *@* ]]; then
        pause=(--pause-at "${seed#*@}")
        seed="${seed%@*}"
    fi
    nice -n 19 "$bench" train --model "$model" --preset reference --seed "$seed" \
        --train-steps 28800 --rungs 8 --threads 1 --resume \
        --checkpoints "$state/checkpoints" --out "$state/results" "${pause[@]}"
}

lane() {
    local entry
    for entry in "$@"; do
        [[ -e "$state/done/$entry" ]] && continue
        train "$entry" || return
        touch "$state/done/$entry"
    done
}

lane unet:0 dncnn:0@7200 unet:1 unet:2 dncnn:1@7200 dncnn:2@7200 conv-ae:2 \
    cunet-release-wo-a:2 cunet-release-wo-r:2 >>"$state/logs/lane-a.log" 2>&1 &
lane cunet-release:0 cunet:0 conv-ae:0 cunet-release:1 cunet:1 cunet-release:2 cunet:2 conv-ae:1 \
    cunet-release-wo-a:0 cunet-release-wo-r:0 cunet-release-wo-a:1 cunet-release-wo-r:1 \
    >>"$state/logs/lane-b.log" 2>&1 &
wait
