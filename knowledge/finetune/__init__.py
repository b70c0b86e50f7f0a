"""Brand-voice fine-tuning: datasets, validation, training backends, evaluation.

Behaviour (tone, structure, sign-off, citation habit) is learned; knowledge still comes from
retrieval. Works with OpenAI while its self-serve fine-tuning lasts and without it: export the
dataset for an open model and register whatever OpenAI-compatible server serves the result.
"""
