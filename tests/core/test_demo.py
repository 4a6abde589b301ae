"""The core demo runs end to end."""

from __future__ import annotations

import json

from printernizer_usage_core import demo


def test_demo_prints_stats_and_the_preview(capsys, tmp_path) -> None:
    demo.main(["--events", "30", "--db", str(tmp_path / "demo.db")])
    out = capsys.readouterr().out
    assert "refused" in out
    assert "opt-in is off by default" in out
    payload = json.loads(out.split("would send:\n", 1)[1])
    assert payload["schema_version"] == "2.0"
    assert "alice" not in out.split("would send:")[1]
