"""Growing a golden set: promote a run's failures, import production traces, review them.

Every case added here is written with `metadata.review = "pending"` and no reference: it is
not part of the set (the gate skips it, the dataset fingerprint ignores it) until a person
writes its reference with `llmgate review`.
"""
