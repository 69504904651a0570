# A cluster-randomised trial with a pupil-level covariate under MCPower 1.4.1's scenario sets
# (optimistic, realistic, doomer: heavier-tailed random effects and residuals, uncertain ICC
# and effects, heteroskedastic residuals driven by the covariate), side by side.
from mcpower_sweep import MCPower

model = MCPower("score ~ treatment + pretest + (1|school)", family="lme")
model.set_simulations(300)
model.set_seed(7)
model.set_cluster("school", ICC=0.15, n_clusters=30, cluster_level_vars=["treatment"])
model.set_variable_type("treatment=binary")
model.set_effects("treatment=0.5, pretest=0.3")
model.set_heteroskedasticity_driver("pretest")
model.set_scenario_configs({"doomer": {"icc_noise_sd": 0.2}})
model.find_power(sample_size=600, scenarios=True)
