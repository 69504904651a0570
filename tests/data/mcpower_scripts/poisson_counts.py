# Number of falls per resident in care homes, with an exercise programme: Poisson GLMM.
from mcpower_sweep import MCPower

model = MCPower("falls ~ exercise + age + (1|home)", family="poisson")
model.set_simulations(200)
model.set_seed(21)
model.set_baseline_rate(1.5)
model.set_cluster("home", tau_squared=0.2, n_clusters=25)
model.set_variable_type("exercise=binary")
model.set_effects("exercise=-0.3, age=0.15")
model.set_max_failed_simulations(0.2)
model.find_power(sample_size=500)
