"""docs/calibration.md is generated from the code and data, and is up to date."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "write_calibration_doc.py"
PAGE = ROOT / "docs" / "calibration.md"
#: Nothing on the page may cite notes kept outside the repository (links are checked apart).
FORBIDDEN = ("research notes", "economics.md")


@pytest.fixture(scope="module")
def writer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("write_calibration_doc", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def page(writer: ModuleType) -> str:
    return writer.render()


def test_page_is_up_to_date(page: str) -> None:
    committed = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    assert committed == page, (
        f"{PAGE.relative_to(ROOT)} is out of date (or edited by hand): "
        f"run .venv/bin/python scripts/write_calibration_doc.py"
    )


@pytest.mark.parametrize("text", FORBIDDEN)
def test_page_cites_nothing_outside_the_repository(page: str, text: str) -> None:
    lines = [line[:120] for line in page.splitlines() if text in line.lower()]
    assert not lines, f"docs/calibration.md mentions {text!r}: {lines}"


def test_every_relative_link_stays_inside_the_repository(page: str) -> None:
    targets = [target.split("#")[0] for target in re.findall(r"\]\(([^)#:]+[^)]*)\)", page)]
    assert targets, "the page links to other pages"
    outside = [target for target in targets
               if not (PAGE.parent / target).resolve().is_relative_to(ROOT)]
    assert not outside, f"links leaving the repository: {outside}"
    missing = [target for target in targets if not (PAGE.parent / target).exists()]
    assert not missing, f"links to files that do not exist: {missing}"


def test_page_describes_the_current_calibration(page: str, writer: ModuleType) -> None:
    from forecaster import load_calibration
    from forecaster.calibration import FIELDS, PWT_FIELDS

    default = load_calibration()
    for field in FIELDS:
        assert f"### `{field}`" in page
    assert "talent" not in page  # removed in model 2.0
    assert f"`calibration_as_of({writer.PWT_LAST_YEAR}, base_year={default.base_year})`" in page
    assert default.digest in page
    # The computed fields say so, and none of their measured numbers is said to be recalled.
    sections = re.split(r"^### ", page, flags=re.MULTILINE)
    for field in PWT_FIELDS:
        (section,) = [s for s in sections if s.startswith(f"`{field}`")]
        assert "Computed from Penn World Table 9.1" in section
        for code in default.economies:
            entry = default.sources[code][field]
            assert entry["assumption"] or "recalled" not in entry.get("note", "").lower(), (code, field)
    assumed, numbers = writer.assumption_share(default.to_dict())
    assert f"{assumed} of {numbers} (" in page


def test_foreign_share_table_follows_the_flags(page: str) -> None:
    from forecaster import load_calibration

    default = load_calibration()
    table = page.split("## Foreign share of base-year knowledge growth: model vs published", 1)[1]
    table = table.split("\n## ", 1)[0]
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| ")}
    for code in default.economies:
        entry = default.sources[code]["foreign_idea_share"]
        if entry["assumption"]:
            assert "no published estimate (assumption)" in rows[code]
        else:
            assert "no published estimate" not in rows[code]
            if "abstract only" in entry.get("note", "").lower():
                assert "unverified beyond the abstract" in rows[code]


def test_model_1_share_of_assumptions_is_the_one_in_git(writer: ModuleType) -> None:
    """The historical constant on the page is recounted from the commit it names, when git has it."""
    try:
        shown = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{writer.MODEL_1_COMMIT}:forecaster/data/calibration.json"],
            capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("git is not available")
    if shown.returncode != 0:
        pytest.skip(f"commit {writer.MODEL_1_COMMIT} is not in this checkout")
    old = json.loads(shown.stdout)
    assert writer.assumption_share(old) == (writer.MODEL_1_ASSUMED, writer.MODEL_1_NUMBERS)


def test_check_mode_reports_a_stale_page(
    writer: ModuleType, page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "render", lambda: page)  # rendered once, by the fixture
    stale = tmp_path / "calibration.md"
    stale.write_text(page + "edited by hand\n", encoding="utf-8")
    assert writer.main(["--check", str(stale)]) == 1
    stale.write_text(page, encoding="utf-8")
    assert writer.main(["--check", str(stale)]) == 0
