"""The README's quick start runs as written against the real server."""

from __future__ import annotations

import re
from pathlib import Path

import provlog
from conftest import Server

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quick_start_runs(server: Server) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    quick = blocks[0]
    assert len(quick.strip().splitlines()) <= 10
    code = "\n".join(blocks[:2])
    code = code.replace('"http://127.0.0.1:8080"', repr(server.url)).replace('"data/', f'"{server.data}/')
    code = code.replace("onboard-42", "readme-quick-start")
    namespace: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), namespace)
    client = namespace["log"]
    assert isinstance(client, provlog.Client)
    client.close()
