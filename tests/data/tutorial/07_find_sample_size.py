from mcpower_sweep import MCPower

model = MCPower("outcome ~ treatment + motivation + (1 + treatment|site)")
model.set_simulations(400)
model.set_cluster(
    "site", ICC=0.2, n_clusters=30,
    random_slopes=["treatment"], slope_variance=0.1, slope_intercept_corr=0.3,
)
model.set_effects("treatment=0.5, motivation=0.3")
model.set_max_failed_simulations(0.30)
model.find_sample_size(
    from_size=500,
    to_size=3000,
    by=278,
    target_test="treatment",
)
