"""Jewel Vision settings: one ``JEWEL_VISION`` dict in the project's settings.

Every key has a documented default below. The object is rebuilt when Django's
``setting_changed`` signal fires (connected in ``JewelVisionConfig.ready()``), so
``override_settings(JEWEL_VISION=...)`` works in tests. This module holds settings
only: the models they name are resolved by :mod:`jewel_vision.registry`, and what
they mean for tags by the layers that use them.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

SETTING_NAME = "JEWEL_VISION"

DEFAULTS: dict[str, Any] = {
    # "app_label.ModelName" of the shop's product-image model. Required: there is no default.
    "IMAGE_MODEL": None,
    # Name of the ImageField/FileField on that model holding the photo.
    "IMAGE_FIELD": "image",
    # Name of the ForeignKey on the image model that points to the product.
    "PRODUCT_FIELD": "product",
    # Celery queue the analysis tasks are routed to (run GPU workers on it).
    "QUEUE": "jewel_vision",
    # Connect post_save/post_delete on the image model. False: call
    # ``jewel_vision.shortcuts.analyze(image)`` yourself.
    "AUTO_ANALYZE": True,
    # A model tag at or above this confidence is shown to shoppers; below it
    # the tag is kept as a suggestion for staff review. Used for tags whose
    # model stores no per-label threshold of its own (see FACET_THRESHOLDS).
    "DISPLAY_THRESHOLD": 0.6,
    # Product tags whose aggregated confidence is below this are not stored.
    "STORE_THRESHOLD": 0.15,
    # Per-facet overrides, e.g. {"stone": 0.7}. A facet named here uses this
    # threshold for every tag, even where the model stores per-label thresholds
    # (chosen on validation data); other facets use the model's per-label
    # threshold when it has one, else DISPLAY_THRESHOLD.
    "FACET_THRESHOLDS": {},
    # Retries of a task on transient errors (database or broker hiccups).
    "MAX_RETRIES": 5,
    # A pending analysis older than this many seconds is re-enqueued by the sweep.
    "PENDING_REQUEUE_AFTER": 60,
    # A running analysis not finished after this many seconds is considered
    # lost (its worker died) and is re-enqueued by the sweep.
    "STUCK_AFTER": 900,
    # Give up on an analysis after this many attempts.
    "MAX_ATTEMPTS": 5,
    # How often the periodic sweep runs (seconds), when celery beat runs:
    # ``jewel_vision.tasks.beat_schedule()`` is the beat entry built from it.
    "SWEEP_INTERVAL": 60,
    # Time limits of one analysis task (seconds; None: none). At the soft limit the
    # analysis ends ``failed`` with a message saying so; at the hard limit the worker
    # process is killed and the sweep recovers the analysis after STUCK_AFTER, so keep
    # TASK_SOFT_TIME_LIMIT < TASK_TIME_LIMIT < STUCK_AFTER. Celery enforces them in its
    # prefork pool (the default), not in ``--pool solo``.
    "TASK_SOFT_TIME_LIMIT": 300,
    "TASK_TIME_LIMIT": 360,
    # Photos a worker analyses as one batch (issue 12, item 3): the task for one photo claims
    # up to this many pending analyses in the database and runs them through the pipeline
    # together. None: 16 on a CUDA device, 8 on the CPU; 1: one photo per task. The batch runs
    # under one task's time limits: keep it x (seconds per photo) well below TASK_SOFT_TIME_LIMIT.
    "ANALYSIS_BATCH_SIZE": None,
    # Options passed to jewel_vision.vision.pipeline.PipelineConfig.
    "PIPELINE": {
        "device": "auto",
        "embedder_weights": None,
        "type_head_path": None,
        "max_pixels": 60_000_000,
        "max_bytes": 50 * 2**20,
        "max_side": 1600,
        # "detector" (fast), "u2netp" (salient object, ~0.8 s an image on CPU) or "none".
        "item_mask": "detector",
        # Hallmark OCR: "rapidocr" (PP-OCRv4, the more accurate on stamps), "easyocr" or None.
        "ocr_engine": "rapidocr",
        # Folder of heads the shop taught (jewel-vision train facet style); None: none.
        "facet_heads_dir": None,
        # The shop's type vocabulary: types merged into others, e.g. {"watch": "bracelet"}.
        "type_labels": {},
        # Other keys: see jewel_vision.vision.pipeline.PipelineConfig.
    },
    # --- Similar items, search by photo, recommendations, API (issue 4) ---
    # Vector index: "exact" (in-process, NumPy; the embedded default),
    # "pgvector" (HNSW index in the shop's PostgreSQL), or "auto": the in-process index
    # while the catalogue has at most INDEX_IN_PROCESS_MAX_PHOTOS indexed photos, pgvector
    # above that (when the database is PostgreSQL with the vector extension).
    "INDEX_BACKEND": "auto",
    # Every web process holds the in-process index: 1280 float16 numbers a photo, about
    # 2.6 KB, so 100,000 photos are ~260 MB per process and a million ~2.6 GB. Above this
    # many photos "auto" leaves it for pgvector (check jewel_vision.W003 warns when it cannot).
    "INDEX_IN_PROCESS_MAX_PHOTOS": 100_000,
    # Exact backend: how often (seconds) a process looks for index changes made
    # by other processes (workers, other web processes); 0 = before every query.
    "INDEX_REFRESH_SECONDS": 1.0,
    # pgvector HNSW parameters: graph degree, build beam, query beam; type_ef_construction: the
    # build beam of the per-type partial graphs, which answer filtered queries (a better graph
    # there lets a narrower beam reach the same recall: 200 against 64 at 1M photos, 3x the
    # build time of those graphs; benchmarks/hnsw_type_index_sweep.py). projection_from (None: never):
    # a rebuild of a catalogue of at least that many photos builds the graphs on a PCA projection
    # of the embeddings (projection_dim numbers, fitted on the catalogue) and re-ranks their
    # candidates on the full embedding: graphs 5x smaller, for a server whose memory cannot hold
    # full ones; at 1M photos it lost recall and was no faster (bench-similar-1m-projection256.json).
    "HNSW": {"m": 16, "ef_construction": 64, "type_ef_construction": 200, "ef_search": 100, "projection_dim": 256,
             "projection_from": None},
    # Fields of the shop's product model read for filters and cards. None: not
    # available (no price filter / every product counts as in stock / str(product)).
    # A numeric stock field means "in stock" when > 0; a boolean one when True.
    "PRODUCT_PRICE_FIELD": "price",
    "PRODUCT_STOCK_FIELD": "stock",
    "PRODUCT_NAME_FIELD": "name",
    # Shown after prices in the widgets' cards ("CHF", "$", ...); "" shows the bare number.
    "CURRENCY": "€",
    # Search by photo: where a shopper's photo is analysed. "worker" (the default): a Celery task
    # on INTERACTIVE_QUEUE, so web processes hold no models (run a worker on that queue, and give
    # the Celery app a result backend); the web process waits up to PHOTO_SEARCH_TIMEOUT seconds,
    # then answers 504 (503 when the broker cannot be reached). "in_process": in the web process
    # itself (one machine, no result backend; each web process then holds ~1.5 GB of models).
    "PHOTO_SEARCH": "worker",
    "INTERACTIVE_QUEUE": "jewel_vision_interactive",
    "PHOTO_SEARCH_TIMEOUT": 20,
    # Photos uploaded by shoppers (search by photo): file size and pixel count.
    "UPLOAD_MAX_BYTES": 10 * 2**20,
    "UPLOAD_MAX_PIXELS": 40_000_000,
    # Throttle rates of the REST API (DRF rate strings), per scope. "photo_search" also
    # throttles the demo shop's HTML search by photo.
    "API_THROTTLE_RATES": {"anon": "300/min", "user": "1200/min", "photo_search": "30/min"},
    # How many reverse proxies in front of the web processes append to X-Forwarded-For.
    # 0 (the default): X-Forwarded-For is ignored and the client is REMOTE_ADDR, so a
    # client cannot pick its own address to escape a throttle. N > 0: the client is the
    # N-th address from the right of X-Forwarded-For (what the outermost trusted proxy saw).
    "NUM_PROXIES": 0,
    # Alias of the Django cache (settings.CACHES) holding the throttle counts. Use one
    # that every web process shares (Redis) in production; a local-memory cache counts
    # per process.
    "THROTTLE_CACHE": "default",
    # What shoppers may see: None (every product), or a function, or its dotted path
    # "myshop.visibility.published", that takes the product queryset and returns the
    # products shoppers may see (e.g. ``qs.filter(published=True)``). Every shopper-facing
    # path uses it: product list and detail, tag search and facet counts, similar items,
    # complete the look, search by photo, recommendations, the widgets and an image's
    # analysis. The vector index only holds these products (it follows product saves;
    # after a change made without ``save()``, e.g. ``queryset.update()``, run
    # ``manage.py jewel_vision_build_index``; cards are checked against it anyway).
    "SHOPPER_QUERYSET": None,
    # How many recently viewed products a session remembers for recommendations.
    "RECENTLY_VIEWED": 20,
    # ProductView rows kept per signed-in customer (older ones are deleted as new
    # views are recorded), so the table cannot grow without limit.
    "PRODUCT_VIEWS_PER_USER": 200,
    # Seconds facet counts for shoppers are cached (search.cached_facet_counts); 0: not cached.
    "FACET_COUNTS_CACHE_SECONDS": 30,
}

INDEX_BACKENDS = ("auto", "exact", "pgvector")
PHOTO_SEARCH_MODES = ("worker", "in_process")
#: A throttle rate as Django REST framework reads it: requests per second, minute, hour or day.
_RATE = re.compile(r"\d+/[smhd][a-z]*")
_NESTED_KEYS = ("PIPELINE", "HNSW", "API_THROTTLE_RATES")

_FLOAT_KEYS = ("DISPLAY_THRESHOLD", "STORE_THRESHOLD")
_POSITIVE_INT_KEYS = (
    "MAX_RETRIES",
    "PENDING_REQUEUE_AFTER",
    "STUCK_AFTER",
    "MAX_ATTEMPTS",
    "SWEEP_INTERVAL",
    "UPLOAD_MAX_BYTES",
    "UPLOAD_MAX_PIXELS",
    "RECENTLY_VIEWED",
    "PRODUCT_VIEWS_PER_USER",
    "FACET_COUNTS_CACHE_SECONDS",
    "NUM_PROXIES",
    "INDEX_IN_PROCESS_MAX_PHOTOS",
)


class JewelVisionSettings:
    """Attribute access to the merged settings, e.g. ``jv_settings.QUEUE``."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        user = getattr(settings, SETTING_NAME, None) or {}
        if not isinstance(user, dict):
            raise ImproperlyConfigured(f"{SETTING_NAME} must be a dict, got {type(user).__name__}.")
        unknown = sorted(set(user) - set(DEFAULTS))
        if unknown:
            raise ImproperlyConfigured(
                f"{SETTING_NAME} has unknown key(s) {', '.join(unknown)}; "
                f"valid keys are {', '.join(sorted(DEFAULTS))}."
            )
        merged = {**DEFAULTS, **user}
        for key in _NESTED_KEYS:
            merged[key] = {**DEFAULTS[key], **(user.get(key) or {})}
        return merged

    def reload(self) -> None:
        self._cache = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in DEFAULTS:
            raise AttributeError(f"Invalid {SETTING_NAME} setting: {name!r}")
        if self._cache is None:
            self._cache = self._load()
        return self._cache[name]

    def shopper_filter(self):
        """The SHOPPER_QUERYSET function (imported from its dotted path), or None."""
        value = self.SHOPPER_QUERYSET
        if value is None or callable(value):
            return value
        if not isinstance(value, str) or "." not in value:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['SHOPPER_QUERYSET'] must be None, a function or its dotted path "
                f"('myshop.visibility.published'), got {value!r}."
            )
        try:
            func = import_string(value)
        except ImportError as exc:
            raise ImproperlyConfigured(f"{SETTING_NAME}['SHOPPER_QUERYSET'] = {value!r} cannot be imported: {exc}") from exc
        if not callable(func):
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['SHOPPER_QUERYSET'] = {value!r} is not callable: it must be a function that takes "
                "the product queryset and returns what shoppers may see."
            )
        return func

    def validate(self) -> None:
        """Raise ImproperlyConfigured with a clear message for any bad value.

        The app's ``ready()`` calls it, so a bad value stops start-up. Model and field
        names are left to the system checks of ``jewel_vision.checks``, which report them
        all at once and with the fix for each, before ``runserver``, ``migrate`` or a
        worker starts; ``PIPELINE``'s options to :func:`jewel_vision.registry.pipeline_config`.
        """
        self.reload()
        for key in _FLOAT_KEYS:
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ImproperlyConfigured(f"{SETTING_NAME}['{key}'] must be a number between 0 and 1, got {value!r}.")
        for key in _POSITIVE_INT_KEYS:
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ImproperlyConfigured(f"{SETTING_NAME}['{key}'] must be a non-negative integer, got {value!r}.")
        if not isinstance(self.FACET_THRESHOLDS, dict) or not all(
            isinstance(v, (int, float)) and 0.0 <= v <= 1.0 for v in self.FACET_THRESHOLDS.values()
        ):
            raise ImproperlyConfigured(f"{SETTING_NAME}['FACET_THRESHOLDS'] must map facet names to numbers in 0..1.")
        limits = {}
        for key in ("TASK_SOFT_TIME_LIMIT", "TASK_TIME_LIMIT"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0):
                raise ImproperlyConfigured(f"{SETTING_NAME}['{key}'] must be a number of seconds > 0 or None, got {value!r}.")
            limits[key] = value
        size = self.ANALYSIS_BATCH_SIZE
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise ImproperlyConfigured(f"{SETTING_NAME}['ANALYSIS_BATCH_SIZE'] must be None or an integer >= 1, got {size!r}.")
        if None not in limits.values() and limits["TASK_SOFT_TIME_LIMIT"] >= limits["TASK_TIME_LIMIT"]:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['TASK_SOFT_TIME_LIMIT'] must be below TASK_TIME_LIMIT, so an analysis stopped "
                "at the soft limit can record why."
            )
        for key in ("QUEUE", "INTERACTIVE_QUEUE"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ImproperlyConfigured(f"{SETTING_NAME}['{key}'] must be a non-empty string.")
        if self.PHOTO_SEARCH not in PHOTO_SEARCH_MODES:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['PHOTO_SEARCH'] must be one of {', '.join(PHOTO_SEARCH_MODES)}, got {self.PHOTO_SEARCH!r}."
            )
        timeout = self.PHOTO_SEARCH_TIMEOUT
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
            raise ImproperlyConfigured(f"{SETTING_NAME}['PHOTO_SEARCH_TIMEOUT'] must be a number of seconds > 0, got {timeout!r}.")
        self._validate_search_settings()
        self.shopper_filter()
        if not isinstance(self.THROTTLE_CACHE, str) or not self.THROTTLE_CACHE:
            raise ImproperlyConfigured(f"{SETTING_NAME}['THROTTLE_CACHE'] must be the alias of a cache in CACHES.")
        if self.THROTTLE_CACHE not in getattr(settings, "CACHES", {"default": {}}):
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['THROTTLE_CACHE'] = {self.THROTTLE_CACHE!r} is not a cache in settings.CACHES."
            )
        if not isinstance(self.PIPELINE, dict):
            raise ImproperlyConfigured(f"{SETTING_NAME}['PIPELINE'] must be a dict of PipelineConfig options.")

    def _validate_search_settings(self) -> None:
        if self.INDEX_BACKEND not in INDEX_BACKENDS:
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['INDEX_BACKEND'] must be one of {', '.join(INDEX_BACKENDS)}, got {self.INDEX_BACKEND!r}."
            )
        refresh = self.INDEX_REFRESH_SECONDS
        if not isinstance(refresh, (int, float)) or isinstance(refresh, bool) or refresh < 0:
            raise ImproperlyConfigured(f"{SETTING_NAME}['INDEX_REFRESH_SECONDS'] must be a number >= 0, got {refresh!r}.")
        unknown = sorted(set(self.HNSW) - set(DEFAULTS["HNSW"]))
        if unknown:
            raise ImproperlyConfigured(f"{SETTING_NAME}['HNSW'] has unknown key(s) {', '.join(unknown)}.")
        for key, value in self.HNSW.items():
            if key == "projection_from" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 2:
                raise ImproperlyConfigured(f"{SETTING_NAME}['HNSW']['{key}'] must be an integer >= 2, got {value!r}.")
        for scope, rate in self.API_THROTTLE_RATES.items():
            if rate is not None and not (isinstance(rate, str) and _RATE.fullmatch(rate)):
                raise ImproperlyConfigured(
                    f"{SETTING_NAME}['API_THROTTLE_RATES']['{scope}'] = {rate!r} is not a rate like '30/min'."
                )
        for key in ("PRODUCT_PRICE_FIELD", "PRODUCT_STOCK_FIELD", "PRODUCT_NAME_FIELD"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value):
                raise ImproperlyConfigured(f"{SETTING_NAME}['{key}'] must be a field name or None, got {value!r}.")


jv_settings = JewelVisionSettings()
