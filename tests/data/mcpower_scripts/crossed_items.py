# Subjects x items (a psycholinguistic experiment): condition varies within subjects,
# whose effect differs between subjects (a by-subject random slope).
from mcpower_sweep import MCPower

model = MCPower("rt ~ condition + (1 + condition|subject) + (1|item)", family="lme")
model.set_simulations(150)
model.set_seed(3)
model.set_variable_type("condition=binary")
model.set_effects("condition=0.25")
model.set_cluster("subject", ICC=0.2, n_clusters=20, random_slopes=["condition"],
                  slope_variance=0.05, slope_intercept_corr=0.3)
model.set_cluster("item", ICC=0.1, n_clusters=10)
model.set_max_failed_simulations(0.2)
model.find_power(sample_size=400)
