"""`--repository REPO ACTION...`: az-style options that take every following word.

Click options take a fixed number of values, but `az acr token create --repository
hello-world content/write content/read` gives a repository and any number of actions. Commands
built with `RepositoryActionsCommand` join the words after such an option, up to the next
option, into one value (`"hello-world content/write content/read"`), which `split_repository`
takes apart. Put positional arguments before these options: they would be taken as actions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import click

__all__ = ["GREEDY_OPTIONS", "RepositoryActionsCommand", "join_greedy", "split_repository"]

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
