"""Arguments az-style commands take that click has no type for.

`--repository REPO ACTION...`: click options take a fixed number of values, but `az acr token
create --repository hello-world content/write content/read` gives a repository and any number
of actions. Commands built with `RepositoryActionsCommand` join the words after such an option,
up to the next option, into one value (`"hello-world content/write content/read"`), which
`split_repository` takes apart. Put positional arguments before these options: they would be
taken as actions.

Quotas (`--quota-storage 10GiB`, `--quota-tokens 50`): `QuotaValue` takes a size with a binary
unit (`parse_size`) or a count, or `default` to go back to the SKU's default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

import click

__all__ = [
    "GREEDY_OPTIONS",
    "RESET",
    "SIZE_UNITS",
    "QuotaValue",
    "RepositoryActionsCommand",
    "join_greedy",
    "parse_size",
    "split_repository",
]

GREEDY_OPTIONS = ("--repository", "--add-repository", "--remove-repository")
"""Options that take a repository and the actions after it."""


def join_greedy(args: Sequence[str], names: Iterable[str] = GREEDY_OPTIONS) -> list[str]:
    """`args` with the words after each greedy option joined into that option's one value."""
    greedy = set(names)
    joined: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            joined.extend(args[index:])
            break
        joined.append(arg)
        index += 1
        if arg in greedy:
            words: list[str] = []
            while index < len(args) and not args[index].startswith("-"):
                words.append(args[index])
                index += 1
            if words:
                joined.append(" ".join(words))
    return joined


def split_repository(value: str) -> tuple[str, list[str]]:
    """A joined `--repository` value as (repository, actions); BadParameter if no action."""
    words = value.split()
    if len(words) < 2:
        raise click.BadParameter(
            "give a repository and its actions, e.g. --repository hello-world content/read",
            param_hint="--repository",
        )
    return words[0], words[1:]


class RepositoryActionsCommand(click.Command):
    """A command whose `--repository`-style options take a repository and its actions."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Join greedy option words, then parse as usual."""
        return super().parse_args(ctx, join_greedy(args))


SIZE_UNITS: Mapping[str, int] = MappingProxyType(
    {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
)
"""Units a size may carry (binary: 1 KiB is 1024 bytes); a bare number is bytes."""

RESET = "default"
"""The quota value that goes back to the SKU's default."""

_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")
_UNITS = MappingProxyType({unit.lower(): factor for unit, factor in SIZE_UNITS.items()})
_COUNT = re.compile(r"[0-9]+")


def parse_size(text: str) -> int:
    """Bytes in `text`: `1048576`, `512B`, `10GiB`, `1.5 TiB` (units in any case); ValueError
    for anything else, such as decimal units (`GB`), negative or fractional byte counts."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size: use a number of bytes or e.g. 10GiB")
    number, unit = match.groups()
    factor = _UNITS.get(unit.lower() or "b")
    if factor is None:
        units = ", ".join(SIZE_UNITS)
        raise ValueError(f"unknown unit {unit!r} in {text!r}: use {units} (or no unit: bytes)")
    try:
        size = Decimal(number) * factor
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a size") from None
    if size != size.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of bytes")
    return int(size)


class QuotaValue(click.ParamType[int | str]):
    """A quota: a size (`sizes=True`: bytes, or a number with a unit) or a count, or `default`
    (converted to `RESET`)."""

    name = "quota"

    def __init__(self, *, sizes: bool = False) -> None:
        """A size quota (units allowed) or a count quota (shown as SIZE or COUNT)."""
        self.sizes = sizes
        self.name = "size" if sizes else "count"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | str:
        """An int, or RESET; fails with a usage error otherwise."""
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if text.lower() == RESET:
            return RESET
        if self.sizes:
            try:
                return parse_size(text)
            except ValueError as error:
                self.fail(str(error), param, ctx)
        if not _COUNT.fullmatch(text):
            self.fail(f"{text!r} is not a count: use a whole number or {RESET!r}", param, ctx)
        return int(text)
