# Try it yourself: cluster count impact on random slopes
from mcpower_sweep import MCPower

for n_cl in [15, 20, 30, 40, 50]:
    model = MCPower("score ~ treatment + (1 + treatment|cluster)")
    model.set_simulations(400)
    model.set_cluster("cluster", ICC=0.15, n_clusters=n_cl,
                      random_slopes=["treatment"], slope_variance=0.10)
    model.set_effects("treatment=0.15")
    model.set_max_failed_simulations(0.25)
    model.set_seed(42)
    model.find_power(sample_size=900)
