"""KFP pipelines over the components; `python -m pipelines --help` compiles, runs locally, submits."""
