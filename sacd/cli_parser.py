"""The CLI's argument parser: a mistyped option is one short error with the closest real one.

jsonargparse answers an unknown option with the whole usage (a hundred lines) and, for a class's
init argument, a nest of every type it tried. Here the error names the option, says which class
has no such parameter, and suggests the closest known name (``difflib``); ``sacd CMD --help``
still lists everything, and ``--debug`` shows jsonargparse's own report.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

from lightning.pytorch.cli import LightningArgumentParser

from sacd.class_paths import import_class_path
from sacd.command_table import EXTRA_COMMANDS

_UNRECOGNISED = re.compile(r"unrecognized arguments: (.*)")
_NOT_ACCEPTED = re.compile(r"does not accept option '([^']+)'")
_CLASS_PROBLEM = re.compile(r"Problem with given class_path '([^']+)'")
_OPTION = re.compile(r"Option '([^']+)' is not accepted")
_PARSER_KEY = re.compile(r'Parser key "([^"]+)"')
_CHOICE = re.compile(r"invalid choice: '([^']+)' \(choose from ([^)]*)\)")
#: base classes whose own parameters are not worth suggesting
#: the datamodule of ``sacd predict``, whose options are pointed to when given to another datamodule
NIGHT_SOURCE = "datamodules.NightVideos"
_STOP = {"object", "Module", "LightningModule", "LightningDataModule", "HyperparametersMixin"}


class SacdArgumentParser(LightningArgumentParser):
    """``LightningArgumentParser`` whose fatal errors are short and suggest the option meant."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error or os.environ.get("JSONARGPARSE_DEBUG", "").lower() == "true":
            super().error(message, ex)
        parser = getattr(ex, "subcommand_parser", None) or self
        prog = parser.prog.replace(" [options]", "")
        sys.stderr.write("\n".join([f"{prog}: error: {line}" for line in explain(message, parser)]
                                   + [f"(`{prog} --help` lists every option; add --debug for the parser's own report)"]))  # fmt: skip
        sys.stderr.write("\n")
        self.exit(2)


def explain(message: str, parser: Any) -> list[str]:
    """One line per unknown option, each with the closest known name; the message itself if none is found."""
    lines = []
    options = known_options(parser)
    unknown = [word.lstrip("-") for match in _UNRECOGNISED.finditer(message) for word in match.group(1).split()
               if word.startswith("--")]  # fmt: skip
    unknown += _NOT_ACCEPTED.findall(message)
    for name in unknown:
        meant = _did_you_mean(name, options, "--")
        head, dot, rest = name.partition(".")
        if not meant and dot:  # a misspelt group ("trainr.max_epochs"): mend the first part
            meant = _did_you_mean(head, {option.split(".")[0] for option in options}, "--").replace("?", f".{rest}?")
        lines.append(f"unknown option --{name}{meant}")
    for name, choices in _CHOICE.findall(message):
        commands = [*re.findall(r"'([^']+)'", choices), *EXTRA_COMMANDS]
        lines.append(f"unknown command {name!r} (commands: {', '.join(commands)}){_did_you_mean(name, commands, '')}")
    key = next(iter(_PARSER_KEY.findall(message)), None)
    for class_path, option in _class_options(message):
        where = f"{key}.init_args." if key else ""
        meant = _did_you_mean(option, class_parameters(class_path), where)
        if option in class_parameters(NIGHT_SOURCE):  # a night to stage, given to a training datamodule
            from sacd.predict_setup import PREDICT_USAGE

            meant = f"; it is an option of {NIGHT_SOURCE}, which stages whole nights: {PREDICT_USAGE}"
        lines.append(f"{where}{option}: {class_path} has no parameter '{option}'{meant}")
    return lines or [message]


def _class_options(message: str) -> Iterable[tuple[str, str]]:
    """(class path, refused option) pairs: each refused option belongs to the class named last before it."""
    classes = [(match.start(), match.group(1)) for match in _CLASS_PROBLEM.finditer(message)]
    for match in _OPTION.finditer(message):
        owner = [path for start, path in classes if start < match.start()]
        if owner:
            yield owner[-1], match.group(1)


def _did_you_mean(name: str, candidates: Iterable[str], prefix: str) -> str:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.7)
    return f"; did you mean {prefix}{close[0]}?" if close else ""


def known_options(parser: Any) -> set[str]:
    """Every option name of a parser and of its subcommands' parsers (dotted, without dashes)."""
    names, stack = set(), [parser]
    while stack:
        current = stack.pop()
        for action in getattr(current, "_actions", []):
            if action.dest and action.dest not in ("help", "config"):
                names.add(action.dest)
            stack.extend(getattr(action, "_name_parser_map", {}).values())
    return names


def class_parameters(class_path: str) -> set[str]:
    """Parameter names of a class's ``__init__`` and of the bases it passes ``**kwargs`` to."""
    cls = import_class_path(class_path)
    names: set[str] = set()
    for base in inspect.getmro(cls) if inspect.isclass(cls) else ():
        if base.__name__ in _STOP or "__init__" not in vars(base):
            continue
        names.update(p for p in inspect.signature(base.__init__).parameters if p not in ("self", "args", "kwargs"))
    return names
