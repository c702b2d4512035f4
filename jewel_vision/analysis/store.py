"""Storing what the pipeline returned for one analysis, in one transaction."""

from __future__ import annotations

import numpy as np
from django.db import transaction
from django.utils import timezone

from jewel_vision.index.sync import refresh_product
from jewel_vision.models import Analysis, Prediction, StoredDetection, StoredEmbedding, StoredRegion, StoredText, Tag
from jewel_vision.services.aggregation import aggregate_product
from jewel_vision.vision.types import AnalysisResult


def get_tags(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Tag]:
    """Tags for (facet, value) pairs, created when new."""
    tags: dict[tuple[str, str], Tag] = {}
    for facet, value in pairs:
        tags[(facet, value)], _ = Tag.objects.get_or_create(facet=facet, value=value)
    return tags


def store_result(analysis_id: int, result: AnalysisResult) -> Analysis:
    """Replace the analysis' findings with ``result``, mark it done and re-aggregate its product.

    Idempotent: storing the same result twice leaves the same rows.
    """
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().get(pk=analysis_id)
        analysis.predictions.all().delete()
        analysis.detections.all().delete()
        analysis.regions.all().delete()
        analysis.texts.all().delete()
        StoredEmbedding.objects.filter(analysis=analysis).delete()

        best: dict[tuple[str, str], object] = {}
        for tag in result.tags:
            key = (tag.facet, tag.value)
            if key not in best or tag.confidence > best[key].confidence:
                best[key] = tag
        tags = get_tags(set(best))
        Prediction.objects.bulk_create(
            Prediction(
                analysis=analysis,
                tag=tags[key],
                confidence=float(p.confidence),
                threshold=None if getattr(p, "threshold", None) is None else float(p.threshold),
                model=p.model,
                model_version=p.model_version,
            )
            for key, p in best.items()
        )
        StoredDetection.objects.bulk_create(
            StoredDetection(
                analysis=analysis,
                label=d.label,
                x0=d.box[0],
                y0=d.box[1],
                x1=d.box[2],
                y1=d.box[3],
                score=float(d.score),
                model=d.model,
                model_version=d.model_version,
            )
            for d in result.detections
        )
        StoredRegion.objects.bulk_create(
            StoredRegion(
                analysis=analysis,
                label=r.label,
                mask_png=r.mask_png,
                area_fraction=float(r.area_fraction),
                model=r.model,
                model_version=r.model_version,
            )
            for r in result.regions
        )
        StoredText.objects.bulk_create(
            StoredText(
                analysis=analysis,
                raw=t.raw[:200],
                normalised=t.normalised[:64],
                metal=t.metal or "",
                purity=t.purity,
                box=list(t.box) if t.box is not None else None,
                score=float(t.score),
                engine=t.engine,
            )
            for t in result.texts
        )
        if result.embedding is not None:
            vector = np.asarray(result.embedding.vector, dtype="<f4")
            StoredEmbedding.objects.create(
                analysis=analysis,
                model_version=f"{result.embedding.model}@{result.embedding.model_version}",
                dim=int(vector.shape[0]),
                vector=vector.tobytes(),
            )
        analysis.status = Analysis.Status.DONE
        analysis.error = ""
        analysis.timings_ms = {k: round(float(v), 2) for k, v in result.timings_ms.items()}
        analysis.model_versions = dict(result.model_versions)
        analysis.width = result.width
        analysis.height = result.height
        analysis.finished_at = timezone.now()
        analysis.save()
        if analysis.is_current and analysis.product_id:
            aggregate_product(analysis.product_id)
        # Keep the vector index in step, in this same transaction.
        refresh_product(analysis.product_id)
    return analysis


def mark_failed(analysis_id: int, message: str) -> bool:
    """End the analysis as failed with ``message``, unless it is already done.

    A finished result is never overwritten: a late failure of a duplicate or lost
    run must not undo what another run stored. Returns whether it was marked.
    """
    return bool(
        Analysis.objects.filter(pk=analysis_id)
        .exclude(status=Analysis.Status.DONE)
        .update(status=Analysis.Status.FAILED, error=message[:2000], finished_at=timezone.now(), updated_at=timezone.now())
    )
