"""``jewel-vision tag PHOTO...``: tag photos from the command line.

    python -m jewel_vision.vision.cli_tag photos/*.jpg
    python -m jewel_vision.vision.cli_tag --json ring.jpg > tags.json

A photo that cannot be decoded prints an error for that photo; the others are
still tagged, and the exit status is 1 if any failed (2 if the models could not
be loaded at all).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

from .pipeline import Pipeline, PipelineConfig, get_pipeline
from .types import AnalysisResult, ImageDecodeError

__all__ = ["add_tag_arguments", "main", "tag_command"]


def _result_json(path: str, result: AnalysisResult, pipeline: Pipeline) -> dict[str, Any]:
    return {
        "path": path,
        "ok": True,
        "width": result.width,
        "height": result.height,
        "tags": [
            {**t.to_dict(), "confident": t.threshold is not None and t.confidence >= t.threshold}
            for t in result.tags
        ],
        "model_versions": result.model_versions,
        "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()},
    }


def _print_human(path: str, result: AnalysisResult, pipeline: Pipeline, out) -> None:
    total = result.timings_ms.get("total", 0.0)
    print(f"{path}  ({result.width}x{result.height}, {total:.0f} ms)", file=out)
    last_facet = None
    for tag in result.tags:
        facet = tag.facet if tag.facet != last_facet else ""
        last_facet = tag.facet
        mark = ""
        if tag.threshold is not None and tag.confidence >= tag.threshold:
            mark = "  (confident)"
        print(f"  {facet:<10} {tag.value:<12} {tag.confidence:6.3f}{mark}", file=out)


def tag_command(paths: list[str], as_json: bool, config: PipelineConfig | None = None) -> int:
    """Tag each file in ``paths`` and print the tags (table, or JSON with ``as_json``).

    Returns 0 when every file was tagged, 1 when any file failed to decode
    (each failure is reported and the rest still run), 2 when the pipeline
    itself could not be set up (missing/incompatible weights).
    """
    out, err = sys.stdout, sys.stderr
    if not paths:
        print("error: no photos given", file=err)
        return 2
    pipeline = get_pipeline(config)
    try:
        pipeline.warmup()
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"error: cannot load the vision models: {exc}", file=err)
        return 2

    failed = 0
    records: list[dict[str, Any]] = []
    batch = max(1, pipeline.config.batch_size)
    for start in range(0, len(paths), batch):
        chunk = [os.fspath(p) for p in paths[start : start + batch]]
        results = pipeline.run_batch(chunk, return_exceptions=True)
        for path, result in zip(chunk, results):
            if isinstance(result, ImageDecodeError):
                failed += 1
                if as_json:
                    records.append({"path": path, "ok": False, "error": str(result)})
                print(f"error: {path}: {result}", file=err)
                continue
            if as_json:
                records.append(_result_json(path, result, pipeline))
            else:
                _print_human(path, result, pipeline, out)
        if not as_json:
            out.flush()
    if as_json:
        json.dump({"pipeline_version": pipeline.version, "results": records}, out, indent=2)
        out.write("\n")
    elif failed:
        print(f"{failed} of {len(paths)} photos could not be read", file=err)
    return 1 if failed else 0


def add_tag_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``tag`` command, for wiring into a larger CLI."""
    parser.add_argument("paths", nargs="+", metavar="PHOTO", help="image files to tag")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--device", default="auto", help="auto (default), cpu or cuda")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jewel-vision tag", description="Tag jewelry photos.")
    add_tag_arguments(parser)
    args = parser.parse_args(argv)
    return tag_command(args.paths, args.as_json, PipelineConfig(device=args.device))


if __name__ == "__main__":
    raise SystemExit(main())
