"""The documentation site cannot drift from the code.

- The config reference in ``docs/how-to/fit-cli.md`` is the table generated from the
  pydantic config models (``weaklabel.fit.options_help()``): every key is documented, no
  stale key remains, defaults and descriptions match. Regenerate it with
  ``python tests/test_docs.py --write``.
- The Python examples of every page run, in order, in a fresh interpreter (blocks after a
  ``<!-- docs-test: skip -->`` line are left out: LLM calls, transformer training).
- ``mkdocs build --strict`` passes: no broken link, nav entry or API reference.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FIT_CLI = DOCS / "how-to" / "fit-cli.md"
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"
SKIP = "<!-- docs-test: skip -->"
_FENCE = re.compile(r"^(?P<indent>[ ]*)```python\n(?P<body>.*?)^(?P=indent)```[ ]*$", re.MULTILINE | re.DOTALL)


# ---------------------------------------------------------------- config reference
def _cell(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|").replace("__", "\\_\\_")


def config_reference() -> list[tuple[str, str, str]]:
    """(key, default, description) per line of ``options_help()``; sections have default ''."""
    from weaklabel.fit import options_help

    rows = []
    for line in options_help():
        head, _, rest = line.strip().partition("  ")
        if head.endswith(":") and not rest.startswith("("):
            rows.append((head[:-1], "", rest.strip()))
            continue
        default, _, description = rest.partition(")  ")
        rows.append((head, default.removeprefix("(").removesuffix(")"), description.strip()))
    return rows


def config_reference_table() -> str:
    """The markdown table pasted into docs/how-to/fit-cli.md."""
    lines = ["| key | default | description |", "|---|---|---|"]
    for key, default, description in config_reference():
        if not default:
            shown = "*section*"
        elif default == "required":
            shown = "**required**"
        else:
            shown = f"`{default.removeprefix('default ')}`"
        lines.append(f"| `{key}` | {shown} | {_cell(description)} |")
    return "\n".join(lines)


def _documented_section() -> str:
    text = FIT_CLI.read_text(encoding="utf-8")
    assert START in text and END in text, f"{FIT_CLI} lacks the {START} ... {END} markers"
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def test_every_config_key_is_documented() -> None:
    documented = set(re.findall(r"^\| `([^`]+)` \|", _documented_section(), re.MULTILINE))
    keys = [key for key, _, _ in config_reference()]
    missing = [key for key in keys if key not in documented]
    stale = sorted(documented - set(keys))
    assert not missing, f"config keys missing from {FIT_CLI.name}: {missing} (run python tests/test_docs.py --write)"
    assert not stale, f"{FIT_CLI.name} documents keys that no longer exist: {stale}"


def test_config_reference_matches_the_models() -> None:
    assert _documented_section() == config_reference_table(), (
        f"the config reference in {FIT_CLI.name} differs from options_help(); "
        "regenerate it with: python tests/test_docs.py --write"
    )


# ---------------------------------------------------------------- runnable examples
def python_examples(page: Path) -> list[str]:
    """The ```python blocks of a page, minus those right after a skip marker."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        if before and before[-1].strip() == SKIP:
            continue
        blocks.append(textwrap.dedent(match.group("body")))
    return blocks


_PAGES = sorted(p for p in DOCS.rglob("*.md") if python_examples(p))


def test_some_pages_have_examples() -> None:
    assert len(_PAGES) >= 5, _PAGES


@pytest.mark.slow
@pytest.mark.parametrize("page", _PAGES, ids=[str(p.relative_to(DOCS)) for p in _PAGES])
def test_page_examples_run(page: Path, tmp_path: Path) -> None:
    code = "\n\n".join(python_examples(page))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "MPLBACKEND": "Agg",
        "HF_HUB_OFFLINE": "1",
        "WEAKLABEL_CACHE_DIR": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"the examples of {page.relative_to(ROOT)} failed:\n{done.stderr[-4000:]}"


# ---------------------------------------------------------------- the site
_RAW_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const|ref|doc|term):`?[\w~.]")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built once with ``mkdocs build --strict``: no broken link, nav entry or reference."""
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install 'weaklabel[docs]')")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return out


def _text(page: Path) -> str:
    """A built page as the reader sees it: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


@pytest.mark.slow
def test_mkdocs_build_strict(site: Path) -> None:
    assert (site / "index.html").is_file()


@pytest.mark.slow
def test_api_pages_show_no_raw_sphinx_roles(site: Path) -> None:
    pages = sorted((site / "api").glob("*/index.html"))
    assert len(pages) >= 10, pages
    raw = {
        page.parent.name: sorted(set(_RAW_ROLE.findall(_text(page))))
        for page in pages
        if _RAW_ROLE.search(_text(page))
    }
    assert not raw, f"Sphinx roles printed as text (write ``name`` instead): {raw}"


def _parameter_row(page: Path, owner: str, name: str) -> tuple[str, str]:
    """(type, default) of parameter ``name`` in the parameter table of object ``owner``."""
    text = page.read_text(encoding="utf-8")
    start = text.index(f'id="{owner}"')
    row = re.search(
        rf"<td>\s*<code>{name}</code>\s*</td>\s*<td>(?P<type>.*?)</td>\s*<td>.*?</td>\s*<td>(?P<default>.*?)</td>",
        text[start:], re.DOTALL,
    )
    assert row, f"no row for {name} under {owner} in {page}"
    return tuple(html.unescape(re.sub(r"<[^>]+>|\s+", "", row.group(key))) for key in ("type", "default"))


@pytest.mark.slow
def test_grouped_docstring_parameters_show_their_own_signature(site: Path) -> None:
    """``max_iter, tol`` share one docstring entry; each shows its own type and default."""
    page = site / "api" / "label_models" / "index.html"
    owner = "weaklabel.label_models.LabelModel"
    assert _parameter_row(page, owner, "max_iter") == ("int", "100")
    assert _parameter_row(page, owner, "tol") == ("float", "1e-06")


def _write_reference() -> None:
    text = FIT_CLI.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    FIT_CLI.write_text(f"{head}{START}\n\n{config_reference_table()}\n\n{END}{tail}", encoding="utf-8")
    print(f"wrote the config reference into {FIT_CLI.relative_to(ROOT)}")


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        _write_reference()
    else:
        print(config_reference_table())
