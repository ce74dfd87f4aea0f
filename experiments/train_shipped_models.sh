#!/usr/bin/env bash
# How the classifiers shipped in src/ccsnscore/models were made (2 CPU cores; about 45 minutes
# with the three training queues side by side). Run from the repository root with the public
# dataset at ../shared/data/ccsn-public (or CCSNSCORE_DATA_ROOT). The objects of the fixed test
# split experiments/splits/ccsn-public-test.csv are held out of training and validation.
set -euo pipefail
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456
PY=${PY:-.venv/bin/python}
S_SEL=outputs/ship/S/0_layer1_S_selected

# 1. train: case S for every layer, layer 1 for the other input cases
$PY -m ccsnscore.train -m +experiment=layer1_S,layer0_S,layer2b_S num_threads=1 hydra.sweep.dir=outputs/ship/S &
$PY -m ccsnscore.train +experiment=layer2a_S num_threads=1 run_dir=outputs/ship/S/3_layer2a_S &
$PY -m ccsnscore.train -m +experiment=layer1_SL,layer1_SD,layer1_SLD num_threads=1 hydra.sweep.dir=outputs/ship/L &
wait

# 1b. layer 1, case S: single runs differ a lot from seed to seed (experiments/sweeps/layer1_S), so
# the default configuration was trained with seeds 12345, 1, 2, 3, 4 and, per classifier, the seed
# with the lowest validation loss is shipped (Hrich: seed 3, val/loss 0.475; Hpoor: seed 2, 0.476).
# Selection looks at validation metrics only; the test split stays held out.
for seed in 1 2 3 4; do
  $PY -m ccsnscore.train +experiment=layer1_S seed=$seed num_threads=1 run_dir=outputs/sweeps/layer1_S_retrain/retrain_default_seed$seed
done
mkdir -p $S_SEL/layer1/S
cp outputs/sweeps/layer1_S_retrain/retrain_default_seed3/classifiers/layer1/S/Hrich.{pt,json} $S_SEL/layer1/S/
cp outputs/sweeps/layer1_S_retrain/retrain_default_seed2/classifiers/layer1/S/Hpoor.{pt,json} $S_SEL/layer1/S/

# 2. evaluate on the fixed test split (100 Monte-Carlo-dropout passes per classifier)
S=outputs/ship/S
$PY -m ccsnscore.evaluate "models=[$S_SEL,$S/1_layer0_S,$S/2_layer2b_S,$S/3_layer2a_S]" "cases=[S]" \
    output_dir=experiments/reports/shipped_S
$PY -m ccsnscore.evaluate "models=[$S_SEL,outputs/ship/L/0_layer1_SL,outputs/ship/L/1_layer1_SD,outputs/ship/L/2_layer1_SLD]" \
    "cases=[S,SL,SD,SLD]" output_dir=experiments/reports/layer1_cases

# 3. copy the classifiers into the package with their model cards
$PY -m ccsnscore.evaluation.model_cards $S_SEL $S/1_layer0_S $S/2_layer2b_S $S/3_layer2a_S outputs/ship/L/*/ --report experiments/reports/shipped_S experiments/reports/layer1_cases \
    --dest src/ccsnscore/models
