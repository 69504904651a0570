# Two correlated clinic-level-varying covariates beside a binary treatment.
from mcpower_sweep import MCPower

model = MCPower("y ~ x1 + x2 + treatment + (1|clinic)", family="lme")
model.set_simulations(400)
model.set_seed(11)
model.set_cluster("clinic", ICC=0.1, n_clusters=20)
model.set_correlations("corr(x1,x2)=0.4")
model.set_variable_type("treatment=(binary,0.3)")
model.set_effects("x1=0.2, x2=0.15, treatment=0.3")
model.find_power(sample_size=600)
