"""Plain-language help for people who edit the YAML files by hand (admins, not programmers).

PyYAML's messages are written for programmers ("mapping values are not allowed here", "found
character '\\t' that cannot start any token"). `explain_yaml_error` turns them into what to do
(quote a text that contains ": ", indent with spaces, close the quote opened on line 12), on the
line where the mistake is. `id_advice` explains an invalid id and spells the valid one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from bot.normalize import fold

MAPPING_FOUND = (
    "key: value pairs (if this is a text with ': ' in it, put the whole text in double quotes)"
)
"""How the checker names a mapping found where a text or list belongs: usually a text with a
colon in it, e.g. `- Hva med ferja: blir den billigere?` in a list of examples."""

SPECIAL_START = "@`*&!%|>"
"""Characters a bare (unquoted) YAML text cannot start with."""


@dataclass(frozen=True)
class YamlProblem:
    line: int | None  # 1-based line where the mistake is (best guess)
    column: int | None  # 1-based
    message: str  # what is wrong and what to do, in plain words

    def __str__(self) -> str:
        return self.message


_INDENT = (
    "the indentation does not line up: the keys of one block must start in exactly the same "
    "column, and each list item starts with '- ' in the same column as the items above it. "
    "Indent with spaces, never tabs"
)
_QUOTE = (
    "there is a ': ' (colon and space) where YAML does not expect one. If it is part of a text, "
    'put the whole text in double quotes, e.g. title: "Ferje: halv pris". If this line starts '
    "a new key, indent it exactly like the keys above it (and check that the line above has its "
    "':')"
)
_TAB = (
    "a tab character: YAML is indented with spaces only. Replace the tab with spaces (set your "
    "editor to insert spaces when you press Tab)"
)


def _advice(problem: str, context: str, found: str | None) -> tuple[str, bool]:
    """(what to do, whether the mistake is at the context mark rather than the problem mark)."""
    if "mapping values are not allowed" in problem:
        return _QUOTE, False
    if "'\\t'" in problem or "\t" in problem or "tab character" in problem:
        return _TAB, False
    if "quoted scalar" in context and "end of stream" in problem:
        return (
            "a quote (\" or ') opened here is never closed: add the closing quote at the end "
            "of the text",
            True,
        )
    if "unknown escape character" in problem:
        return (
            "inside double quotes a backslash (\\) starts a special code: write \\\\ for a "
            "backslash, or use single quotes around the text instead",
            False,
        )
    if "flow sequence" in context or "flow mapping" in context:
        closer = "]" if "sequence" in context else "}"
        return (
            f"a list in brackets that starts here is not closed with '{closer}', or one of its "
            "items contains a comma, a colon, '#' or a bracket: put such items in double quotes "
            'or write the list one item per line ("- item")',
            True,
        )
    if "could not find expected ':'" in problem:
        return (
            "a line without 'key:' where one is expected: a key is missing its ':', or a long "
            "text continues on a new line that is not indented further than its key (indent "
            "it, or put the text in quotes)",
            True,
        )
    if "but found another document" in problem:
        return (
            "a line with only '---' starts a second document; a file holds one policy area: "
            "remove the '---' line",
            False,
        )
    if found is not None and found in SPECIAL_START:
        return (
            f"a text cannot start with {found!r} unless it is quoted: put the whole text in "
            "double quotes",
            False,
        )
    if "expected <block end>, but found '<scalar>'" in problem:
        return (
            "text after a closing quote: put the whole text inside the quotes (or, if this "
            "line is misplaced, check its indentation)",
            False,
        )
    if "expected <block end>" in problem or "expected <block mapping" in problem:
        return _INDENT, False
    if "constructor for the tag" in problem or "undefined alias" in problem:
        return (
            f"a text starting with one of {SPECIAL_START} must be quoted: put the whole text "
            "in double quotes",
            False,
        )
    if "block scalar" in context:
        return (
            "after '|' or '>' the text must start on the next line, indented: or put the text "
            "in quotes instead",
            False,
        )
    if "anchor" in context or "alias" in context or "directive" in context:
        return (
            f"a text starting with one of {SPECIAL_START} must be quoted: put the whole text "
            "in double quotes",
            False,
        )
    return (
        "check the indentation (spaces, lined up with the lines above) and put texts that "
        f"contain ': ', ' #' or start with one of {SPECIAL_START} in double quotes",
        False,
    )


_FOUND = re.compile(r"found character '(.)'")


def _runaway_quote(text: str, index: int) -> yaml.Mark | None:
    """Where a quoted text that runs over several lines and ends just before `index` starts:
    the usual sign of a closing quote forgotten many lines earlier."""
    last: yaml.Token | None = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.index >= index:
                break
            last = token
    except yaml.YAMLError:
        pass
    if (
        isinstance(last, yaml.ScalarToken)
        and last.style in ('"', "'")
        and last.end_mark.line > last.start_mark.line
    ):
        mark: yaml.Mark = last.start_mark
        return mark
    return None


def explain_yaml_error(
    exc: yaml.YAMLError, text: str | None = None, *, echo: bool = True
) -> YamlProblem:
    """What a YAML parse error means for the person editing the file, and where it is.

    Given the file's `text`, a quote left open many lines earlier is found where it opens.
    With echo=False the parser's own words are left out: they can quote the file's content,
    and a config file holds secrets."""
    problem = str(getattr(exc, "problem", None) or str(exc).splitlines()[0])
    context = str(getattr(exc, "context", None) or "")
    said = f" (YAML reader: {problem})" if echo else ""
    problem_mark = getattr(exc, "problem_mark", None)
    if text and problem_mark is not None:
        opened = _runaway_quote(text, problem_mark.index)
        if opened is not None:
            column = opened.column + 1
            return YamlProblem(
                opened.line + 1,
                column,
                f"not valid YAML (column {column}): the quote opened here is not closed on its "
                f"line (the text runs on to line {problem_mark.line + 1}): add the closing "
                f"quote at the end of this text.{said}",
            )
    found = _FOUND.search(problem)
    advice, at_context = _advice(problem, context, found.group(1) if found else None)
    mark = getattr(exc, "context_mark", None) if at_context else None
    mark = mark or problem_mark
    if mark is None:
        return YamlProblem(None, None, f"not valid YAML: {advice}.{said}")
    line, column = int(mark.line) + 1, int(mark.column) + 1
    return YamlProblem(line, column, f"not valid YAML (column {column}): {advice}.{said}")


def ascii_id(text: str) -> str:
    """The id an admin most likely meant: 'Kommuneøkonomi' -> 'kommuneokonomi',
    'Bo trygt hjemme' -> 'bo-trygt-hjemme'."""
    return "-".join(fold(text).split())


def id_advice(value: str) -> str:
    """Why `value` is not a valid id, and the valid spelling when there is one."""
    message = (
        f"'{value}' is not a valid id: ids use only a-z, 0-9 and dashes (no æøå, capitals or "
        "spaces), since they go into links and stored votes"
    )
    suggestion = ascii_id(value)
    if suggestion and suggestion != value:
        message += f"; write '{suggestion}'"
    return message
