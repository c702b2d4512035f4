"""Jewel Vision: computer vision for jewelry shops, as a reusable Django app.

Importing this package must stay cheap and Django-free: workers and benchmarks
import ``jewel_vision.vision`` without a configured Django project. A shop's code
calls :mod:`jewel_vision.shortcuts` (``analyze``, ``analyze_now``, ``visible_tags``,
``similar_items``).

Where things are, bottom layer first (each imports only from the layers above it in
this list):

* ``vision/``: the vision pipeline, plain Python, no Django (workers and benchmarks call it);
* ``conf.py`` (settings) and ``registry.py`` (the shop's models, their content types,
  this process's pipeline);
* ``models/``: the tables;
* ``services/`` and ``index/``: tags (aggregation, review, locking), search, similar
  items, recommendations, teaching, and the vector index;
* ``analysis/``: a photo's analysis: ``start.py`` (created and enqueued on upload),
  ``run.py`` (the work, on a worker), ``store.py`` (its results become tags);
* ``tasks.py``: the Celery tasks;
* ``api/``, ``admin.py``, ``templatetags/``, ``signals.py``, ``shortcuts.py``, ``cli.py``:
  the ways in.
"""

__version__ = "0.1.0"
