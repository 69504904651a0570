# Try it yourself: slope_variance impact on power
from mcpower_sweep import MCPower

for sv in [0.01, 0.05, 0.10, 0.20, 0.30]:
    model = MCPower("score ~ treatment + (1 + treatment|cluster)")
    model.set_simulations(400)
    model.set_cluster("cluster", ICC=0.15, n_clusters=30,
                      random_slopes=["treatment"], slope_variance=sv)
    model.set_effects("treatment=0.15")
    model.set_max_failed_simulations(0.20)
    model.set_seed(42)
    model.find_power(sample_size=900)
