"""Built-in plugins. Every module here is loaded as a plugin and registers through the public hooks.

Modules register torch-based classes by import path (``"negkit.losses.infonce:InfoNCE"``) so that
listing and validating stay free of torch.
"""
