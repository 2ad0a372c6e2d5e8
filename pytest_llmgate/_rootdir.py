"""Keep pytest's rootdir where the project is when a `--llm-gate-*` path is given space-separated.

pytest picks the rootdir (and the ini file) before it loads plugins, so it cannot know that
`--llm-gate-outputs /elsewhere/outputs.jsonl` takes a value: it counts `/elsewhere/outputs.jsonl`
as a test path and picks the rootdir from it (pytest-dev/pytest#8846; `--opt=value` is immune).
Once this plugin is loaded the options are known, so this hook works the choice out again from
the real test paths and, when only our option values moved it, puts the rootdir and ini file
back before any conftest is loaded.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

OPTION_PREFIX = "--llm-gate-"
#: Ini keys pytest applies before plugins load: a corrected ini file holding one cannot be honoured.
_READ_BEFORE_PLUGINS = ("addopts", "pythonpath", "required_plugins", "minversion")


def option_values(args: list[str], namespace: Any) -> list[str]:
    """The values of `--llm-gate-*` options given as a separate argument (`--opt VALUE`)."""
    values = []
    for index, token in enumerate(args[:-1]):
        if not token.startswith(OPTION_PREFIX) or "=" in token:
            continue
        value = args[index + 1]
        given = getattr(namespace, token[2:].replace("-", "_"), None)
        if value == given or (isinstance(given, list) and value in given):
            values.append(value)
    return values


def _setup(config: pytest.Config, args: list[str]) -> tuple[Path, Path | None, Any, Any]:
    """pytest's own rootdir and ini choice for these test paths (its signature varies by version)."""
    from _pytest.config.findpaths import determine_setup

    namespace = config.known_args_namespace
    offered = {
        "inifile": namespace.inifilename,
        "override_ini": getattr(namespace, "override_ini", None),
        "args": args,
        "rootdir_cmd_arg": None,
        "invocation_dir": config.invocation_params.dir,
    }
    accepted = inspect.signature(determine_setup).parameters
    found = determine_setup(**{k: v for k, v in offered.items() if k in accepted})
    return found[0], found[1], found[2], found[3] if len(found) > 3 else None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str], parser: pytest.Parser) -> None:
    namespace = early_config.known_args_namespace
    values = option_values(args, namespace)
    if not values or namespace.rootdir:
        return
    paths = [str(arg) for arg in namespace.file_or_dir]
    rootpath, inipath, inicfg, ignored = _setup(early_config, paths)
    if (rootpath, inipath) == (early_config.rootpath, early_config.inipath):
        return
    if _setup(early_config, paths + values)[:2] != (early_config.rootpath, early_config.inipath):
        return  # something else chose this rootdir; not ours to change
    applied_early = sorted(key for key in _READ_BEFORE_PLUGINS if key in inicfg)
    if applied_early:
        msg = (
            f"{values[0]!r} was taken for a test path when pytest chose its rootdir, so {inipath}'s "
            f"{', '.join(applied_early)} were not applied. Write the option with '=' (--option={values[0]})."
        )
        raise pytest.UsageError(msg)
    moved_cut = str(early_config.inipath.parent if early_config.inipath else early_config.rootpath)
    early_config._rootpath = rootpath
    early_config._inipath = inipath
    early_config._inicfg = inicfg
    if ignored is not None and hasattr(early_config, "_ignored_config_files"):
        early_config._ignored_config_files = ignored
    early_config._inicache.clear()
    parser.extra_info["rootdir"] = str(rootpath)
    parser.extra_info["inifile"] = str(inipath)
    if namespace.confcutdir == moved_cut:
        namespace.confcutdir = str(inipath.parent if inipath else rootpath)
