"""Build hook: the gettext catalogs (``mediins_cli/locale/*/LC_MESSAGES/*.po``) compiled to
``.mo`` beside them, so that every install (a wheel, ``pip install -e .``) has them. The ``.mo``
files are build products: not in git, shipped in the wheel as artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run as a script (`make catalogs`), outside a build
    BuildHookInterface = object  # type: ignore[assignment,misc]


def compile_catalogs(root: Path) -> list[Path]:
    """Every ``.po`` under ``root/mediins_cli/locale`` compiled to its ``.mo``; a fuzzy or
    untranslated entry is left out (English shows), as ``pybabel compile`` does."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted((root / "mediins_cli" / "locale").glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parent.parent.name)
        mo = po.with_suffix(".mo")
        temporary = mo.with_suffix(".mo.tmp")
        with temporary.open("wb") as f:
            write_mo(f, catalog)
        temporary.replace(mo)
        written.append(mo)
    return written


class CatalogBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)  # type: ignore[attr-defined]
        for mo in compile_catalogs(root):
            build_data["artifacts"].append(mo.relative_to(root).as_posix())


if __name__ == "__main__":
    for written in compile_catalogs(Path(__file__).parent):
        print(f"compiled {written}")
