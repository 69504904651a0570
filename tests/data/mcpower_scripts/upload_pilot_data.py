# Pilot data drive the predictors (upload_data): a right-skewed age, an income rising with
# age, a smoking indicator and a site type (text), from 40 patients of 8 clinics; the outcome
# is simulated from the effects set. Each mode in turn: the marginals only ("none"), with
# the measured correlations ("partial"), and whole pilot rows bootstrapped ("strict").
from pathlib import Path

import pandas as pd

from mcpower_sweep import MCPower

pilot = pd.read_csv(Path(__file__).resolve().parents[1] / "upload_pilot.csv")
for mode in ("none", "partial", "strict"):
    model = MCPower("y ~ age + income + smoker + site + (1|clinic)", family="lme")
    model.set_simulations(300)
    model.set_seed(5)
    model.set_cluster("clinic", ICC=0.1, n_clusters=20)
    model.upload_data(pilot, mode=mode)
    model.set_effects("age=0.25, income=0.15, smoker=0.4, site[suburban]=0.3, site[urban]=0.5")
    model.find_power(sample_size=200)
