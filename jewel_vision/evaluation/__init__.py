"""Evaluating the pipeline on any labelled folder (``jewel-vision eval``). No Django."""
