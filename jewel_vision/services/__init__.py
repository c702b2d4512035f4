"""What the app does with stored analyses, below the analysis runner and above the models.

Tags (``aggregation`` of model predictions, ``review`` by people, the per-product
``locking`` both take), finding products (``search``, ``similarity``,
``recommendations``), shoppers' photos (``photos``) and ``teaching`` a new facet.
"""
