#!/usr/bin/env bash
# How the classifiers shipped in src/ccsnscore/pretrained were made, with the ccsnscore recipe
# (conf/recipe/ccsnscore.yaml; the evidence is in experiments/ablations/). Run from the repository
# root with the public dataset at ../shared/data/ccsn-public (or CCSNSCORE_DATA_ROOT). The objects of
# the fixed test split experiments/splits/ccsn-public-test.csv are held out of training and
# validation. Two training queues side by side on 2 CPU cores; each queue resumes where it stopped
# (ckpt_resume) when the script is run again.
set -euo pipefail
PY=${PY:-.venv/bin/python}
OUT=${OUT:-outputs/ship}
export OMP_NUM_THREADS=1
# rest-frame models: deep ensembles of 3 seeds per classifier for case S and layer-1 SLD (a single
# SLD seed was less accurate than case S; SL and SD are single seeds)
S_LAYERS="layer0 layer1 layer2a layer2b"
# the layer-1 CNNs' extra inputs: the wavelength channel and the positional readout (C1_wlpos)
POSITIONS="model.spectrum.wavelength_channel=true model.spectrum.readout_positions=8"
# observed-frame models (spectra without a usable redshift): the gate and layer 1, one seed each; no
# host-galaxy lines or redshift error in the augmentation (they sit at unknown observed wavelengths)
OBSERVED="preprocessing.spectrum.rest_frame=false data.batch_augment.host=0.0 data.batch_augment.redshift=0.0"

train() {  # train <run dir> <overrides...>: a run that finished before is resumed and skipped
  local dir=$1; shift
  local resume=()
  [ -d "$dir" ] && resume=("ckpt_resume=$dir")
  mkdir -p "$dir"
  $PY -m ccsnscore.train "$@" num_threads=1 run_dir="$dir" "${resume[@]}" >> "$dir.log" 2>&1
}

queue_a() {
  # layer 1 (every case) and layer 2b: the CNN also reads each pixel's place on the wavelength grid
  # (variant C1_wl of experiments/ablations/; better on layers 1 and 2b, not on 2a); layer 1 also
  # reads the last block's features over 8 stretches of the spectrum (C1_wlpos)
  train $OUT/rest/layer1_S +experiment=layer1 ensemble=3 $POSITIONS
  train $OUT/rest/layer0_S +experiment=layer0 ensemble=3
  train $OUT/rest/layer2a_S +experiment=layer2a ensemble=3
  train $OUT/rest/layer2b_S +experiment=layer2b ensemble=3 model.spectrum.wavelength_channel=true
}
queue_b() {
  train $OUT/observed/layer0_S +experiment=layer0 $OBSERVED
  train $OUT/observed/layer1_S +experiment=layer1 $OBSERVED
  train $OUT/rest/layer1_SL +experiment=layer1 data.input_case=SL $POSITIONS
  train $OUT/rest/layer1_SD +experiment=layer1 data.input_case=SD $POSITIONS
  train $OUT/rest/layer1_SLD +experiment=layer1 data.input_case=SLD ensemble=3 $POSITIONS
}
queue_a & queue_b & wait

# every network blended with gradient-boosted trees fitted on the same non-test rows (equal weights;
# experiments/ablations/README.md), stored in the classifier files. The trees of the gates, layer 1 and
# layer 2b (rest and observed frame) read the flux minus its 31-pixel running mean (better trees than
# 15 pixels on the held-out SEDM spectra: experiments/ablations/tree_windows*.md); layer 2a (level
# there) keeps 15 pixels
window() {
  case $1 in rest/layer2a_*) echo 15 ;; *) echo 31 ;; esac
}
for run in rest/layer0_S rest/layer1_S rest/layer2a_S rest/layer2b_S rest/layer1_SL rest/layer1_SD rest/layer1_SLD \
    observed/layer0_S observed/layer1_S; do
  OMP_NUM_THREADS=2 $PY -m ccsnscore.evaluation.blend $OUT/$run --out $OUT/blended/$run --tree-weight 0.5 \
      --continuum-window "$(window $run)"
done
# the SLD ensemble's three networks (light-curve LSTMs) would make files of 2.6 MB: their weights are
# stored at half precision (used as float32) before the SLD classifiers are evaluated and shipped
$PY -m ccsnscore.evaluation.model_cards $OUT/blended/rest/layer1_SLD --half-networks \
    --dest $OUT/blended/rest/layer1_SLD_half

# the networks alone, for comparison (experiments/reports/networks_only*); the rest-frame report can
# also be made from the shipped files alone: experiments/networks_of_blends.py (its docstring)
N=$OUT/rest
$PY -m ccsnscore.evaluate "models=[$N/layer0_S,$N/layer1_S,$N/layer2a_S,$N/layer2b_S,$N/layer1_SL,$N/layer1_SD,$N/layer1_SLD]" \
    "cases=[S,SL,SD,SLD]" output_dir=experiments/reports/networks_only
$PY -m ccsnscore.evaluate "models=[$OUT/observed/layer0_S,$OUT/observed/layer1_S]" "cases=[S]" \
    output_dir=experiments/reports/networks_only_observed_frame
OUT=$OUT/blended

# evaluation of what ships on the fixed test split (100 Monte-Carlo-dropout passes per classifier),
# with the tree baseline and SNID beside it
R=$OUT/rest
$PY -m ccsnscore.evaluate "models=[$R/layer0_S,$R/layer1_S,$R/layer2a_S,$R/layer2b_S,$R/layer1_SL,$R/layer1_SD,$R/layer1_SLD_half]" \
    "cases=[S,SL,SD,SLD]" output_dir=experiments/reports/shipped
$PY -m ccsnscore.evaluate "models=[$OUT/observed/layer0_S,$OUT/observed/layer1_S]" "cases=[S]" \
    output_dir=experiments/reports/shipped_observed_frame

# the classifiers into the package (replacing the ones shipped before), each with its model card
rm -rf src/ccsnscore/pretrained
$PY -m ccsnscore.evaluation.model_cards $R/layer0_S $R/layer1_S $R/layer2a_S $R/layer2b_S $R/layer1_SL $R/layer1_SD \
    --report experiments/reports/shipped --dest src/ccsnscore/pretrained
$PY -m ccsnscore.evaluation.model_cards $R/layer1_SLD_half --report experiments/reports/shipped \
    --dest src/ccsnscore/pretrained
$PY -m ccsnscore.evaluation.model_cards $OUT/observed/layer0_S $OUT/observed/layer1_S \
    --report experiments/reports/shipped_observed_frame --dest src/ccsnscore/pretrained/observed-frame
