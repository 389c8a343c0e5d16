"""Data sources that read real datasets from local files: one module per source family.

Every source checks its paths when data is first read (not in ``__init__``), so that ``negkit validate``
works on machines without the data; the ``DataError`` it raises then names the recipe key and what was
expected there.
"""
