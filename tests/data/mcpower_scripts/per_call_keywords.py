# Settings given to each call, as MCPower 1.4.1's own examples do: simulations, seed,
# target power, the printed table and the progress report per call.
from mcpower_sweep import MCPower

model = MCPower("score ~ treatment + pretest + (1|school)", family="lme")
model.set_cluster("school", ICC=0.15, n_clusters=20, cluster_level_vars=["treatment"])
model.set_variable_type("treatment=binary")
model.set_effects("treatment=0.5, pretest=0.4")
model.find_power(600, n_sims=300, seed=11, progress_callback=False, wald_se="rx")
model.find_sample_size(target_test="treatment", from_size=400, to_size=1200, by=200,
                       target_power=0.7, n_sims=200, seed=11, progress_callback=False,
                       verbose=False)
