"""out/index.html: each original beside its resized result, with sizes and timings."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote


@dataclass(frozen=True)
class Result:
    """One rendition as written to out/."""

    name: str
    path: str
    detail: str


@dataclass(frozen=True)
class Entry:
    """One upload and what the pipeline made of it."""

    key: str
    original_path: str
    status: str
    original_bytes: int
    results: Sequence[Result] = ()
    detail: str = ""


def write(out_dir: Path, entries: Sequence[Entry]) -> Path:
    """Write the gallery page and return its path."""
    rows = []
    for entry in entries:
        figures = [
            f'<figure><img src="{quote(result.path)}" alt="{html.escape(result.name)}">'
            f"<figcaption>{html.escape(result.name)}: {html.escape(result.detail)}</figcaption></figure>"
            for result in entry.results
        ]
        result = "".join(figures) or "<em>no output</em>"
        original = quote(entry.original_path)
        rows.append(
            "<tr>"
            f"<td><code>{html.escape(entry.key)}</code><br>{entry.original_bytes:,} bytes</td>"
            f'<td><a href="{original}"><img src="{original}" alt="original"></a></td>'
            f"<td>{result}</td>"
            f'<td class="{html.escape(entry.status)}">{html.escape(entry.status)}<br>{html.escape(entry.detail)}</td>'
            "</tr>"
        )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>image-processor demo</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
td {{ border-top: 1px solid #ccc; padding: .5rem; vertical-align: top; }}
img {{ max-width: 400px; max-height: 300px;
       background: repeating-conic-gradient(#eee 0 25%, #fff 0 50%) 0 0/16px 16px; }}
figure {{ display: inline-block; margin: 0 .5rem .5rem 0; }} figcaption {{ font-size: .8rem; }}
.success {{ color: #176317; }} .failure, .dead-lettered {{ color: #a01818; }}
</style></head><body>
<h1>image-processor: local run</h1>
<table><tr><th>key</th><th>original</th><th>renditions</th><th>outcome</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
