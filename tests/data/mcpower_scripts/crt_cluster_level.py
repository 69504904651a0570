# A cluster-randomised trial: whole schools are treated, a pupil-level pretest.
from mcpower_sweep import MCPower

model = MCPower("score ~ treatment + pretest + (1|school)", family="lme")
model.set_simulations(400)
model.set_seed(7)
model.set_cluster("school", ICC=0.15, n_clusters=30, cluster_level_vars=["treatment"])
model.set_variable_type("treatment=binary")
model.set_effects("treatment=0.4, pretest=0.5")
model.set_max_failed_simulations(0.2)
model.find_power(sample_size=900)
