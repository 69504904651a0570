from mcpower_sweep import MCPower

model = MCPower("outcome ~ treatment + (1 + treatment|site)")
model.set_simulations(400)
model.set_cluster(
    "site", ICC=0.15, n_clusters=30,
    random_slopes=["treatment"], slope_variance=0.02, slope_intercept_corr=0.0,
)
model.set_effects("treatment=0.5")
model.set_max_failed_simulations(0.20)
model.find_power(sample_size=1000)
