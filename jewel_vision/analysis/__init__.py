"""A photo's analysis, in the order it happens.

1. :mod:`~jewel_vision.analysis.start`: an upload (the image model's ``post_save``)
   creates an ``Analysis`` and enqueues the Celery task when the transaction commits;
2. :mod:`~jewel_vision.analysis.run`: on a worker, the task claims it, reads the photo
   and runs the configured vision pipeline;
3. :mod:`~jewel_vision.analysis.store`: what the pipeline returned is stored and the
   product's tags are aggregated again (:mod:`jewel_vision.services.aggregation`).
"""
