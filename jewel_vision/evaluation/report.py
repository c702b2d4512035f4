"""Human-readable output of ``jewel-vision eval``: a text table and an HTML report."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from PIL import Image


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def text_table(report: dict) -> str:
    lines = [f"images: {report['n_images']}  ({report['images_per_second']:.1f} images/s, {report.get('n_errors', 0)} unreadable)"]
    headline = {
        "type": ("accuracy", "macro_f1"),
        "metal_tone": ("accuracy", "macro_f1"),
        "gemstone": ("micro_f1", "macro_f1"),
        "retrieval": ("recall@1", "recall@5", "recall@10"),
        "segmentation": ("miou",),
        "detection": ("ap50", "ap50_any_label"),
        "ocr": ("exact",),
    }
    lines.append(f"{'task':<14}{'n':>6}  metrics")
    for task, keys in headline.items():
        if task not in report:
            continue
        numbers = "  ".join(f"{k}={_fmt(report[task].get(k))}" for k in keys)
        lines.append(f"{task:<14}{report[task].get('n', 0):>6}  {numbers}")
        per_class = report[task].get("per_class")
        if per_class and task in ("type", "metal_tone"):
            for label, m in sorted(per_class.items()):
                lines.append(
                    f"{'':<4}{label:<16} P={_fmt(m['precision'])} R={_fmt(m['recall'])} F1={_fmt(m['f1'])} n={m['support']}"
                )
    return "\n".join(lines)


def _confusion_html(task: str, confusion: dict) -> str:
    labels = confusion["labels"]
    head = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    rows = []
    for label, counts in zip(labels, confusion["matrix"]):
        total = sum(counts) or 1
        cells = "".join(
            f'<td style="background:rgba(40,90,200,{c / total:.2f})">{c}</td>' for c in counts
        )
        rows.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    return f"<h3>{task}: confusion (rows truth, columns predicted)</h3><table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def _thumbnail(path: str) -> str:
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((160, 160))
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=80)
    except Exception:  # noqa: BLE001 - an unreadable file is itself a mistake shown as text
        return ""
    return f'<img src="data:image/jpeg;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def write_html(report: dict, mistakes: list[dict], out: str | Path) -> None:
    parts = [
        "<!doctype html><meta charset=utf-8><title>Jewel Vision evaluation</title>",
        "<style>body{font-family:system-ui;margin:2rem}table{border-collapse:collapse;margin:1rem 0}"
        "td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:center}.m{display:inline-block;width:180px;"
        "margin:.4rem;font-size:.8rem;vertical-align:top}</style>",
        "<h1>Jewel Vision evaluation</h1>",
        f"<pre>{html.escape(text_table(report))}</pre>",
    ]
    for task in ("type", "metal_tone"):
        if task in report and "confusion" in report[task]:
            parts.append(_confusion_html(task, report[task]["confusion"]))
    parts.append("<h2>Worst mistakes</h2>")
    for m in mistakes:
        parts.append(
            f'<div class="m">{_thumbnail(m["path"])}<br>{html.escape(m["facet"])}: truth <b>{html.escape(m["truth"])}</b>, '
            f'predicted <b>{html.escape(m["predicted"])}</b> ({m["confidence"]:.2f})<br><small>{html.escape(Path(m["path"]).name)}</small></div>'
        )
    Path(out).write_text("\n".join(parts), encoding="utf-8")
