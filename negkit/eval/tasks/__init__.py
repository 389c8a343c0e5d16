"""Published compositionality benchmarks read from their official files: SugarCrepe, ARO, Winoground, VALSE.

Each evaluator checks its files when it runs (not when it is built, so recipes validate on machines
without the data), names the recipe key of any missing or malformed file, refuses a silently smaller
benchmark (missing images are an error unless ``skip_missing`` is set, and then they are counted in the
output) and writes its rules (tie rule, filters, seeds) to ``ctx.meta``.
"""
