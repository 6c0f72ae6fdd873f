"""The CLI starts without the heavy analysis stack: pandas, dask, xarray and zarr load only when used."""

from __future__ import annotations

import subprocess
import sys


def test_cli_import_leaves_heavy_packages_unloaded() -> None:
    code = (
        "import sys, pacslab.cli.main\n"
        "heavy = ('pandas', 'dask', 'dask.array', 'xarray', 'scipy', 'zarr')\n"
        "print(','.join(sorted(m for m in heavy if m in sys.modules)))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"importing the CLI loaded {loaded}: import them inside the functions that use them"


def test_parser_of_built_in_commands_leaves_dimse_unloaded() -> None:
    code = "import sys, pacslab.cli.main as m\nm.build_parser(plugins=False)\nprint('pynetdicom' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False", "building the parser imported pynetdicom: keep the DIMSE stack out of add_subparser"


class _Plugin:
    """An entry point of the ``pacslab.cli`` group, as another package would declare it."""

    @staticmethod
    def load():  # type: ignore[no-untyped-def]
        def add_subparser(subparsers):  # type: ignore[no-untyped-def]
            subparsers.add_parser("hello").set_defaults(func=lambda args: print("hello from a plugin") or 3)

        return add_subparser


def test_plugin_commands_are_found_and_built_ins_skip_the_scan(monkeypatch, tmp_path, capsys) -> None:
    import pacslab.cli.main as cli

    monkeypatch.setattr(cli, "_entry_points", lambda: [_Plugin()])
    assert cli.main(["hello"]) == 3
    assert "hello from a plugin" in capsys.readouterr().out

    def no_scan():  # type: ignore[no-untyped-def]
        raise AssertionError("a built-in command scanned the installed packages for plugins")

    monkeypatch.setattr(cli, "_entry_points", no_scan)
    assert cli.main(["-v", "init", str(tmp_path / "archive")]) == 0
    assert (tmp_path / "archive").is_dir()


def test_only_the_program_freezes_what_it_loaded(tmp_path) -> None:
    import gc

    import pacslab.cli.main as cli

    code = (
        "import atexit, gc, sys, pacslab.cli.main as m\n"
        "sys.argv[1:] = ['init', sys.argv[1]]\n"
        "atexit.register(lambda: print(gc.get_freeze_count()))\n"  # the program ends in main()
        "m.main()\n"
    )
    argv = [sys.executable, "-c", code, str(tmp_path / "a")]
    frozen = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert int(frozen.stdout.split()[-1]) > 10_000  # the modules the command imported
    before = gc.get_freeze_count()
    assert cli.main(["init", str(tmp_path / "b")]) == 0  # called as a function: the caller's heap is left alone
    assert gc.get_freeze_count() == before
