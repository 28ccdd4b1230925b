#!/usr/bin/env bash
# The long reference's final evaluation (README.md beside this script, "The final evaluation";
# sizes: the reference preset's, docs/protocol.md §9), in its three steps:
#
#   reference/long-run/evaluate.sh STATE rungs SEEDS   # 1: every rung of every ladder, from the
#                                                      #    training checkpoints (e.g. SEEDS=0 or 1,2)
#   reference/long-run/evaluate.sh STATE ship SEEDS    # 2: the EMA weights of the trainings that
#                                                      #    train-lanes.sh marked done, into WEIGHTS
#   reference/long-run/evaluate.sh STATE shipped SEEDS # 3: sample sheets, fid and denoise from the
#                                                      #    shipped files (on an idle machine)
#
# Steps 1 and 3 write to STATE/final/results; each can run seed by seed as trainings reach their
# tops, and sample shards are cached under STATE/checkpoints, so a step started again reuses them.
# BACKBONES and DENOISERS override the models measured (the Appendix C ablations join BACKBONES
# when they are trained); WEIGHTS (default reference/weights) is where step 2 ships and step 3
# reads, reference/long-run/weights while a seed's compared backbones are not all final.
set -euo pipefail

state="${1:?usage: evaluate.sh STATE rungs|ship|shipped [SEEDS, default 0]}"
step="${2:?usage: evaluate.sh STATE rungs|ship|shipped [SEEDS, default 0]}"
seeds="${3:-0}"
bench="${BENCH:-bench}"
backbones="${BACKBONES:-unet,cunet-release,cunet}"
denoisers="${DENOISERS:-unet,cunet-release,cunet,dncnn,conv-ae,bm3d}"
weights="${WEIGHTS:-reference/weights}"
results="$state/final/results"
common=(--preset reference --train-seeds "$seeds" --curves --checkpoints "$state/checkpoints"
    --out "$results" --threads 1)

case "$step" in
rungs)
    # Rungs at the curves' 30 sampling steps only: step 3 samples the shipped tops on the whole grid.
    nice -n 10 "$bench" fid "${common[@]}" --models "$backbones" --sampling-steps 30
    nice -n 10 "$bench" denoise "${common[@]}" --models "$denoisers"
    ;;
ship)
    # The top and the rung below (the last doubling) of the compared backbones; the top alone of
    # the others, within the issue's 100 MB (README.md, "The final evaluation").
    # Only trainings marked done: a checkpoint still training would ship mid-run.
    for marker in "$state"/done/*; do
        entry="$(basename "$marker")"
        model="${entry%%:*}" seed="${entry#*:}"
        seed="${seed%@*}"
        [[ ",$seeds," == *",$seed,"* ]] || continue
        checkpoint="$state/checkpoints/$model-mnist5k-reference-seed$seed.safetensors"
        "$bench" ship --checkpoint "$checkpoint" --to "$weights"
        case "$model" in
        unet | cunet-release | cunet)
            "$bench" ship --checkpoint "$checkpoint" --at-step 14400 --to "$weights"
            ;;
        esac
    done
    ;;
shipped)
    if [[ ",$seeds," == *",0,"* ]]; then
        for model in unet cunet-release cunet; do
            "$bench" sample --preset reference --checkpoint "$weights/$model-seed0-step0028800.safetensors" \
                --out "$results" --threads 1
        done
    fi
    "$bench" fid "${common[@]}" --models "$backbones" --weights "$weights"
    "$bench" denoise "${common[@]}" --models "$denoisers" --weights "$weights"
    ;;
*)
    echo "evaluate.sh: unknown step '$step' (rungs, ship or shipped)" >&2
    exit 2
    ;;
esac
