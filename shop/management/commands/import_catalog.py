import random
from decimal import Decimal

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from shop.catalog import iter_items
from shop.models import Product, ProductImage


class Command(BaseCommand):
    help = "Import a folder of photos as products (default: ../shared/datasets if present, else generated drawings)."

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?")
        parser.add_argument("--limit", type=int, default=40)

    def handle(self, *args, directory=None, limit=40, **options):
        try:
            source, items = iter_items(directory, limit)
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        rng = random.Random(0)
        created = 0
        for item in items:
            sku = f"JV-{item.key}"[:64]
            if Product.objects.filter(sku=sku).exists():
                continue
            with transaction.atomic():
                product = Product.objects.create(
                    name=item.name,
                    sku=sku,
                    price=Decimal(rng.randrange(2900, 129900)) / 100,
                    stock=rng.choice([0, 1, 3, 5, 12]),
                    description=f"Imported from {source}.",
                )
                for position, (filename, data) in enumerate(item.photos):
                    ProductImage.objects.create(product=product, image=ContentFile(data, name=filename), position=position)
            created += 1
        self.stdout.write(self.style.SUCCESS(f"Imported {created} products from {source}."))
