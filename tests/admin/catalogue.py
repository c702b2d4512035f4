"""A catalogue of any size, written in bulk: products, photo rows, finished analyses with boxes,
predictions and product tags, as the pipeline and aggregation leave them.

For the admin's query-count tests (two catalogue sizes) and ``benchmarks/admin_speed.py``
(10,000 products, 50,000 tags). The photo rows name files that are not on disk: the pages
under test only build their URLs. Deterministic for a given ``seed``.
"""

from __future__ import annotations

import random
from decimal import Decimal

import io

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

def _tiny_jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 170, 60)).save(buf, "JPEG")
    return buf.getvalue()


_PHOTO = _tiny_jpeg()
TYPES = ["ring", "earring", "necklace", "bracelet", "pendant"]
TONES = ["yellow", "white", "rose"]
STONES = ["none", "diamond", "pearl", "coloured"]
STYLES = ["minimalist", "vintage", "luxury", "ethnic"]
METALS = ["gold", "silver", "platinum"]


def bulk_catalogue(n: int, *, seed: int = 0, prefix: str = "B", version: str = "test-pipeline@1") -> list:
    """``n`` products with 5 tags each (type, metal_tone, stone, style, metal); returns the products."""
    from jewel_vision.models import (
        Analysis,
        Prediction,
        ProductTag,
        StoredDetection,
        Tag,
    )
    from jewel_vision.registry import image_content_type, product_content_type
    from shop.models import Product, ProductImage

    from django.core.files.storage import default_storage

    rng = random.Random(seed)
    ict, pct = image_content_type(), product_content_type()
    facets = {"type": TYPES, "metal_tone": TONES, "stone": STONES, "style": STYLES, "metal": METALS}
    tags = {}
    for facet, values in facets.items():
        for value in values:
            tags[(facet, value)] = Tag.objects.get_or_create(facet=facet, value=value)[0]
    now = timezone.now()
    with transaction.atomic():
        products = Product.objects.bulk_create(
            Product(name=f"{prefix} piece {i}", sku=f"{prefix}-{seed}-{i}", price=Decimal(rng.randint(20, 900)),
                    stock=rng.randint(0, 9))
            for i in range(n)
        )
        # One small real photo file each (a backfill reads them).
        names = [default_storage.save(f"products/bulk/{p.sku}.jpg", ContentFile(_PHOTO)) for p in products]
        images = ProductImage.objects.bulk_create(
            ProductImage(product=p, image=name, position=0) for p, name in zip(products, names)
        )
        statuses = [Analysis.Status.DONE] * 8 + [Analysis.Status.FAILED, Analysis.Status.PENDING]
        analyses = Analysis.objects.bulk_create(
            Analysis(image_type=ict, image_id=str(img.pk), product_id=str(img.product_id), content_hash=f"h{img.pk}",
                     pipeline_version=version, status=rng.choice(statuses), finished_at=now - timezone.timedelta(days=rng.randint(0, 20)),
                     width=640, height=480)
            for img in images
        )
        StoredDetection.objects.bulk_create(
            StoredDetection(analysis=a, label=rng.choice(TYPES), x0=0.2, y0=0.25, x1=0.6, y1=0.75, score=0.9,
                            model="jewelry-detector", model_version="1")
            for a in analyses
        )
        rows, predictions = [], []
        for product, analysis in zip(products, analyses):
            for facet, values in facets.items():
                tag = tags[(facet, rng.choice(values))]
                confidence = round(rng.uniform(0.2, 0.99), 3)
                state = rng.choices(["suggested", "accepted", "rejected"], [8, 1, 1])[0]
                rows.append(ProductTag(product_type=pct, product_id=str(product.pk), tag=tag, confidence=confidence,
                                       review_state=state, source="model", source_detail="test-tagger@1"))
                predictions.append(Prediction(analysis=analysis, tag=tag, confidence=confidence, model="test-tagger",
                                              model_version="1"))
        ProductTag.objects.bulk_create(rows, batch_size=2000)
        Prediction.objects.bulk_create(predictions, batch_size=2000)
        through = ProductTag.analyses.through
        by_product = {str(a.product_id): a.pk for a in analyses}
        links = [through(producttag_id=pt.pk, analysis_id=by_product[pt.product_id]) for pt in rows]
        through.objects.bulk_create(links, batch_size=2000)
        # Every tenth product has a second photo that predicted its type only: its photos disagree on the rest.
        twice = products[::10]
        names2 = [default_storage.save(f"products/bulk/{p.sku}-2.jpg", ContentFile(_PHOTO)) for p in twice]
        images2 = ProductImage.objects.bulk_create(
            ProductImage(product=p, image=name, position=1) for p, name in zip(twice, names2)
        )
        analyses2 = Analysis.objects.bulk_create(
            Analysis(image_type=ict, image_id=str(img.pk), product_id=str(img.product_id), content_hash=f"h{img.pk}",
                     pipeline_version=version, status=Analysis.Status.DONE, finished_at=now, width=640, height=480)
            for img in images2
        )
        by_product2 = {a.product_id: a for a in analyses2}
        Analysis.objects.filter(pk__in=[by_product[p] for p in by_product2]).update(status=Analysis.Status.DONE)
        types = [pt for pt in rows if pt.product_id in by_product2 and pt.tag.facet == "type"]
        through.objects.bulk_create(through(producttag_id=pt.pk, analysis_id=by_product2[pt.product_id].pk) for pt in types)
        Prediction.objects.bulk_create(
            Prediction(analysis=by_product2[pt.product_id], tag=pt.tag, confidence=pt.confidence, model="test-tagger",
                       model_version="1") for pt in types
        )
    return products
