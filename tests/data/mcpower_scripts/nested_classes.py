# Pupils in classes in schools: the treatment is given to whole classes.
from mcpower_sweep import MCPower

model = MCPower("score ~ treatment + pretest + (1|school/class)", family="lme")
model.set_simulations(300)
model.set_seed(12)
model.set_variable_type("treatment=binary")
model.set_effects("treatment=0.3, pretest=0.4")
model.set_cluster("school", ICC=0.15, n_clusters=20)
model.set_cluster("school:class", ICC=0.1, n_per_parent=4, cluster_level_vars=["treatment"])
model.set_max_failed_simulations(0.2)
model.find_power(sample_size=1200)
