"""The ``projcomp`` command (DESIGN.md, command line).

Exit status: 0 when the command ran (whatever the verdict), 2 for invalid input (one
line on stderr naming the problem), 1 for an internal error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from projcomp.render import render_check
from projcomp.spec import SpecError, load_family


class UsageError(Exception):
    """Invalid command-line input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="projcomp", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = commands.add_parser("check", help="judge the composition of a family spec")
    check.add_argument("family", help="family spec (JSON, format projcomp.family/1)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--samples", type=_non_negative, default=0,
                       help="samples for the sample-level checks (0 skips them; default 0)")
    check.add_argument("--seed", type=int, default=0,
                       help="seed of the estimators that sample (default 0)")
    check.set_defaults(run=_run_check)
    return parser


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _run_check(args: argparse.Namespace) -> int:
    from numerics.judge import check_family

    if args.samples:
        raise UsageError("--samples: sample-level checks need the samplers, which are not "
                         "built yet; use --samples 0")
    family = load_family(args.family)
    report: dict[str, Any] = check_family(family, seed=args.seed)
    print(json.dumps(report, indent=2) if args.json else render_check(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except (UsageError, SpecError) as err:
        print(f"projcomp: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): silence the interpreter's flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("projcomp: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if os.environ.get("PROJCOMP_DEBUG"):
            raise
        print(f"projcomp: internal error: {type(err).__name__}: {_one_line(err)} "
              "(set PROJCOMP_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


if __name__ == "__main__":
    sys.exit(main())
