from mcpower_sweep import MCPower

# 1. Define the model with a random intercept AND random slope for treatment
model = MCPower("outcome ~ treatment + motivation + (1 + treatment|site)")
model.set_simulations(400)

# 2. Configure the clustering with random slope parameters
model.set_cluster(
    "site",
    ICC=0.2,
    n_clusters=30,
    random_slopes=["treatment"],
    slope_variance=0.1,
    slope_intercept_corr=0.3,
)

# 3. Set the expected effect sizes
model.set_effects("treatment=0.5, motivation=0.3")

# 4. Random slopes need more convergence tolerance
model.set_max_failed_simulations(0.30)

# 5. Run the power analysis
model.find_power(sample_size=1500)
