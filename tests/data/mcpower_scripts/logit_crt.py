# A cluster-randomised trial with a yes/no outcome (passed the exam): logit GLMM.
from mcpower_sweep import MCPower

model = MCPower("passed ~ treatment + pretest + (1|school)", family="logit")
model.set_simulations(200)
model.set_seed(13)
model.set_baseline_probability(0.4)
model.set_cluster("school", ICC=0.15, n_clusters=30, cluster_level_vars=["treatment"])
model.set_variable_type("treatment=binary")
model.set_effects("treatment=0.6, pretest=0.4")
model.set_max_failed_simulations(0.2)
model.find_power(sample_size=900)
