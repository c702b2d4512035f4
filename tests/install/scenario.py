"""Run inside the new project, in the fresh virtual environment, with a worker running.

``python scenario.py PHOTO_DIR``: creates published items and a draft with photos, waits for
the worker to tag them, then reads the tags, the widget, the item page and the API the way
a shop and its shoppers would, and prints what it saw as JSON on the last line.
"""

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myshop.settings")
sys.path.insert(0, os.getcwd())

import django  # noqa: E402

django.setup()

from django.core.files.base import ContentFile  # noqa: E402
from django.template import Context, Template  # noqa: E402
from django.test import Client  # noqa: E402

import jewel_vision  # noqa: E402
from catalog.models import Item, ItemPhoto  # noqa: E402
from jewel_vision import shortcuts  # noqa: E402
from jewel_vision.models import Analysis  # noqa: E402

photos = sorted(Path(sys.argv[1]).glob("*.jpg"))
out: dict = {"jewel_vision_file": jewel_vision.__file__}

items = {}
for i, (name, published) in enumerate([("Gold ring", True), ("Silver ring", True), ("Draft ring", False)]):
    item = Item.objects.create(title=name, ref=f"R-{i}", price="120.00", quantity=3, published=published)
    ItemPhoto.objects.create(item=item, picture=ContentFile(photos[i].read_bytes(), name=photos[i].name), sort_order=0)
    items[name] = item
out["items"] = {name: item.pk for name, item in items.items()}

deadline = time.monotonic() + float(os.environ.get("SCENARIO_WAIT", "240"))
while time.monotonic() < deadline:
    statuses = list(Analysis.objects.values_list("status", flat=True))
    if len(statuses) == 3 and all(s in ("done", "failed") for s in statuses):
        break
    time.sleep(1)
out["analyses"] = list(Analysis.objects.values("image_id", "status", "error"))

gold, silver, draft = items["Gold ring"], items["Silver ring"], items["Draft ring"]
out["visible_tags"] = {name: [str(t.tag) for t in shortcuts.visible_tags(item)] for name, item in items.items()}
out["draft_tags_for_staff"] = [str(t.tag) for t in shortcuts.visible_tags(draft, for_shoppers=False)]
out["tag_is_visible_types"] = sorted({type(t.is_visible).__name__ for t in shortcuts.visible_tags(gold)})
out["similar"] = {name: [str(c.product.pk) for c in shortcuts.similar_items(item, in_stock_only=False)] for name, item in items.items()}
out["widget"] = Template("{% load jewel_vision %}{% jewel_similar item in_stock_only=False %}").render(Context({"item": gold}))

client = Client(raise_request_exception=False)  # a 500 is recorded as a status
page = client.get(f"/items/{gold.pk}/")
out["item_page"] = {"status": page.status_code, "html": page.content.decode()}
out["draft_page_status"] = client.get(f"/items/{draft.pk}/").status_code

api: dict = {}
r = client.get("/api/v1/products/", HTTP_ACCEPT="application/json")
api["products"] = {"status": r.status_code, "ids": [str(p["id"]) for p in r.json().get("results", [])] if r.status_code == 200 else r.content.decode()[:2000]}
api["draft_detail"] = client.get(f"/api/v1/products/{draft.pk}/", HTTP_ACCEPT="application/json").status_code
r = client.get(f"/api/v1/products/{gold.pk}/similar/", HTTP_ACCEPT="application/json")
api["similar"] = {"status": r.status_code, "body": r.content.decode()[:4000]}
for name, url, accept in [
    ("schema", "/api/v1/schema/", "application/vnd.oai.openapi"),
    ("docs", "/api/v1/docs/", "text/html"),
    ("redoc", "/api/v1/redoc/", "text/html"),
    ("browsable", "/api/v1/products/", "text/html"),
]:
    r = client.get(url, HTTP_ACCEPT=accept)
    api[name] = {"status": r.status_code, "body": r.content.decode(errors="replace")[:300] if r.status_code != 200 else ""}
r = client.get("/api/v1/products/", HTTP_ACCEPT="application/json", HTTP_AUTHORIZATION="Token not-a-real-token")
api["bad_token"] = {"status": r.status_code, "body": r.content.decode()[:500]}
out["api"] = api
print(json.dumps(out, default=str))
