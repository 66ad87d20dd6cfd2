"""A knowledge folder with a shop.toml that is not TOML, for the commands that read it."""

from __future__ import annotations

import shutil
from pathlib import Path

from indexer.settings import PROJECT_ROOT


def broken_knowledge(root: Path) -> Path:
    """A copy of the demo shops in `root` whose webstore/shop.toml is not TOML on its
    line 3 (column 8); returns that file."""
    knowledge = root / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge", knowledge)
    shop_toml = knowledge / "webstore" / "shop.toml"
    lines = shop_toml.read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[2].startswith("name = ")
    lines[2] = lines[2].replace("name = ", "name = = ")
    shop_toml.write_text("".join(lines), encoding="utf-8")
    return shop_toml
