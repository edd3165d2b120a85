"""KFP components: one folder per stage, each a thin wrapper over the msm library."""
