"""Records, baselines, paired statistics and the verdict."""
