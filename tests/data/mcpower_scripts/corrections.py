# Three outcomes of one intervention tested at once: power after Holm's and Bonferroni's
# corrections for the three tests.
from mcpower_sweep import MCPower

model = MCPower("score ~ treatment + motivation + anxiety + (1|school)", family="lme")
model.set_simulations(400)
model.set_seed(5)
model.set_cluster("school", ICC=0.1, n_clusters=25)
model.set_variable_type("treatment=binary")
model.set_effects("treatment=0.3, motivation=0.2, anxiety=0.15")
model.find_power(sample_size=500, correction="holm")
model.find_power(sample_size=500, target_test="treatment, motivation", correction="bonferroni")
