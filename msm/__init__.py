"""msm: the Model Spec Midtraining pipeline (ingest → synthesize → midtrain → align → evaluate)."""

__version__ = "0.1.0"
