"""The training engine on open_clip: model adapter, batches with negatives, loop, checkpoints, distributed."""
