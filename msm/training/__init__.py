"""Stages 3 and 4: midtraining on the spec corpus and alignment fine-tuning (AFT), on DeepSpeed."""
