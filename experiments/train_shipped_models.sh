#!/usr/bin/env bash
# How the classifiers shipped in src/ccsnscore/models were made (2 CPU cores; about 40 minutes).
# Run from the repository root with the public dataset at ../shared/data/ccsn-public
# (or CCSNSCORE_DATA_ROOT). The fixed test split experiments/splits/ccsn-public-test.csv is held out.
set -euo pipefail
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456
PY=${PY:-.venv/bin/python}

# 1. train: case S for every layer, layer 1 for the other input cases (two queues side by side)
$PY -m ccsnscore.train -m +experiment=layer1_S,layer0_S,layer2a_S,layer2b_S num_threads=1 hydra.sweep.dir=outputs/ship/S &
$PY -m ccsnscore.train -m +experiment=layer1_SL,layer1_SD,layer1_SLD num_threads=1 hydra.sweep.dir=outputs/ship/L &
wait

# 2. evaluate on the fixed test split (100 Monte-Carlo-dropout passes)
runs=$(ls -d outputs/ship/*/*/ | paste -sd, -)
$PY -m ccsnscore.evaluate "models=[${runs}]" "cases=[S,SL,SD,SLD]" output_dir=experiments/reports/shipped

# 3. copy the classifiers into the package with their model cards
$PY -m ccsnscore.model_cards outputs/ship/*/*/ --report experiments/reports/shipped --dest src/ccsnscore/models
