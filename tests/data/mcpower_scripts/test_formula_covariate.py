# The same trial analysed twice: with its pupil-level covariate, and (test_formula) without
# it, as MCPower 1.4.1 allows; the random intercept of school stays in both analyses.
from mcpower_sweep import MCPower

model = MCPower("score ~ treatment + pretest + (1|school)", family="lme")
model.set_simulations(400)
model.set_seed(11)
model.set_cluster("school", ICC=0.15, n_clusters=30)
model.set_variable_type("treatment=binary")
model.set_effects("treatment=0.25, pretest=0.5")
model.find_power(sample_size=600)
model.find_power(sample_size=600, test_formula="score ~ treatment")
