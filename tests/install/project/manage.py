#!/usr/bin/env python
"""A new shop made with ``django-admin startproject myshop`` and ``startapp catalog``."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myshop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
