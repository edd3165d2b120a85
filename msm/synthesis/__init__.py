"""Stage 2, synthesis: the MSM document corpus and the AFT demonstrations, from a rendered spec.

Entry points: `msm.synthesis.documents.synthesize_documents`, `msm.synthesis.aft_stage.synthesize_aft`,
`msm.synthesis.preview.preview`. This module imports nothing heavy: msm.config imports the
recipe section from `msm.synthesis.config`.
"""
