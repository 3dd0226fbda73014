"""Plain-language help for people who edit the YAML files by hand (admins, not programmers).

PyYAML's messages are written for programmers ("mapping values are not allowed here", "found
character '\\t' that cannot start any token"). `explain_yaml_error` recognises the mistake behind
them (a text with ': ' in it, a tab, a quote opened on line 12 and never closed) and finds the line
where it is. A `YamlProblem` says what to do in Norwegian for the admins who edit the knowledge
(`message`; the texts are in `bot.messages`) and in English for the operator's config file
(`operator_message`). The parser's own words reach no one: they are jargon, and they can quote
the file (a config file holds secrets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import yaml

from bot import messages
from bot.normalize import fold

SPECIAL_START = "@`*&!%|>"
"""Characters a bare (unquoted) YAML text cannot start with."""


class Mistake(StrEnum):
    """What the person editing the file most likely did (the keys of `messages.YAML_ADVICE`)."""

    COLON = "colon"  # ': ' in an unquoted text, or a key indented wrong
    TAB = "tab"  # a tab where spaces belong
    OPEN_QUOTE = "open_quote"  # a quote never closed before the end of the file
    RUNAWAY_QUOTE = "runaway_quote"  # a quote not closed on its line (the text runs on)
    ESCAPE = "escape"  # a backslash inside double quotes
    OPEN_LIST = "open_list"  # [a, b …: not closed, or an item with , : # or a bracket
    OPEN_BRACES = "open_braces"  # {a: b …: the same with braces
    MISSING_COLON = "missing_colon"  # a line without 'key:' where one is expected
    SECOND_DOCUMENT = "second_document"  # a '---' line
    SPECIAL_START = "special_start"  # an unquoted text starting with `char`
    TEXT_AFTER_QUOTE = "text_after_quote"  # "quoted" and then more text
    INDENT = "indent"  # keys or list items not lined up
    SPECIAL_CHARS = "special_chars"  # an unquoted text starting with one of SPECIAL_START
    BLOCK_TEXT = "block_text"  # text right after '|' or '>'
    OTHER = "other"


@dataclass(frozen=True)
class YamlProblem:
    line: int | None  # 1-based line where the mistake is (best guess)
    column: int | None  # 1-based
    mistake: Mistake
    char: str = ""  # SPECIAL_START: the character the text starts with
    runs_to: int | None = None  # RUNAWAY_QUOTE: the line the quoted text runs on to

    def advice(self, texts: dict[str, str]) -> str:
        """What is wrong and what to do, in the words of `texts` (one per Mistake)."""
        return texts[self.mistake].format(
            char=self.char, runs_to=self.runs_to, special=SPECIAL_START
        )

    @property
    def message(self) -> str:
        """For the admins, in Norwegian: the column, what is wrong and what to do."""
        advice = self.advice(messages.YAML_ADVICE)
        if self.column is None:
            return messages.YAML_INVALID_NOWHERE.format(advice=advice)
        return messages.YAML_INVALID.format(column=self.column, advice=advice)

    @property
    def operator_message(self) -> str:
        """For the operator's config file, in English like every config error."""
        advice = self.advice(OPERATOR_ADVICE)
        if self.column is None:
            return f"not valid YAML: {advice}."
        return f"not valid YAML (column {self.column}): {advice}."

    def __str__(self) -> str:
        return self.message


OPERATOR_ADVICE: dict[str, str] = {
    Mistake.COLON: (
        "there is a ': ' (colon and space) where YAML does not expect one. If it is part of a "
        'text, put the whole text in double quotes, e.g. mode: "a: b". If this line starts a new '
        "key, indent it exactly like the keys above it (and check that the line above has its "
        "':')"
    ),
    Mistake.TAB: (
        "a tab character: YAML is indented with spaces only. Replace the tab with spaces (set "
        "your editor to insert spaces when you press Tab)"
    ),
    Mistake.OPEN_QUOTE: (
        "a quote (\" or ') opened here is never closed: add the closing quote at the end of the "
        "text"
    ),
    Mistake.RUNAWAY_QUOTE: (
        "the quote opened here is not closed on its line (the text runs on to line {runs_to}): "
        "add the closing quote at the end of this text"
    ),
    Mistake.ESCAPE: (
        "inside double quotes a backslash (\\) starts a special code: write \\\\ for a "
        "backslash, or use single quotes around the text instead"
    ),
    Mistake.OPEN_LIST: (
        "a list in brackets that starts here is not closed with ']', or one of its items "
        "contains a comma, a colon, '#' or a bracket: put such items in double quotes or write "
        'the list one item per line ("- item")'
    ),
    Mistake.OPEN_BRACES: (
        "a mapping in braces that starts here is not closed with '}}', or one of its values "
        "contains a comma, a colon, '#' or a bracket: put such values in double quotes or write "
        "one key per line"
    ),
    Mistake.MISSING_COLON: (
        "a line without 'key:' where one is expected: a key is missing its ':', or a long text "
        "continues on a new line that is not indented further than its key (indent it, or put "
        "the text in quotes)"
    ),
    Mistake.SECOND_DOCUMENT: (
        "a line with only '---' starts a second document: remove the '---' line"
    ),
    Mistake.SPECIAL_START: (
        "a text cannot start with '{char}' unless it is quoted: put the whole text in double quotes"
    ),
    Mistake.TEXT_AFTER_QUOTE: (
        "text after a closing quote: put the whole text inside the quotes (or, if this line is "
        "misplaced, check its indentation)"
    ),
    Mistake.INDENT: (
        "the indentation does not line up: the keys of one block must start in exactly the "
        "same column, and each list item starts with '- ' in the same column as the items above "
        "it. Indent with spaces, never tabs"
    ),
    Mistake.SPECIAL_CHARS: (
        "a text starting with one of {special} must be quoted: put the whole text in double quotes"
    ),
    Mistake.BLOCK_TEXT: (
        "after '|' or '>' the text must start on the next line, indented: or put the text in "
        "quotes instead"
    ),
    Mistake.OTHER: (
        "check the indentation (spaces, lined up with the lines above) and put texts that "
        "contain ': ', ' #' or start with one of {special} in double quotes"
    ),
}
"""The operator's words for each mistake (the admins' are `messages.YAML_ADVICE`)."""


def _mistake(problem: str, context: str, found: str | None) -> tuple[Mistake, bool]:
    """(the mistake, whether it is at the context mark rather than the problem mark)."""
    if "mapping values are not allowed" in problem:
        return Mistake.COLON, False
    if "'\\t'" in problem or "\t" in problem or "tab character" in problem:
        return Mistake.TAB, False
    if "quoted scalar" in context and "end of stream" in problem:
        return Mistake.OPEN_QUOTE, True
    if "unknown escape character" in problem:
        return Mistake.ESCAPE, False
    if "flow sequence" in context:
        return Mistake.OPEN_LIST, True
    if "flow mapping" in context:
        return Mistake.OPEN_BRACES, True
    if "could not find expected ':'" in problem:
        return Mistake.MISSING_COLON, True
    if "but found another document" in problem:
        return Mistake.SECOND_DOCUMENT, False
    if found is not None and found in SPECIAL_START:
        return Mistake.SPECIAL_START, False
    if "expected <block end>, but found '<scalar>'" in problem:
        return Mistake.TEXT_AFTER_QUOTE, False
    if "expected <block end>" in problem or "expected <block mapping" in problem:
        return Mistake.INDENT, False
    if "constructor for the tag" in problem or "undefined alias" in problem:
        return Mistake.SPECIAL_CHARS, False
    if "block scalar" in context:
        return Mistake.BLOCK_TEXT, False
    if "anchor" in context or "alias" in context or "directive" in context:
        return Mistake.SPECIAL_CHARS, False
    return Mistake.OTHER, False


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


def explain_yaml_error(exc: yaml.YAMLError, text: str | None = None) -> YamlProblem:
    """What a YAML parse error means for the person editing the file, and where it is.

    Given the file's `text`, a quote left open many lines earlier is found where it opens."""
    problem = str(getattr(exc, "problem", None) or str(exc).splitlines()[0])
    context = str(getattr(exc, "context", None) or "")
    problem_mark = getattr(exc, "problem_mark", None)
    if text and problem_mark is not None:
        opened = _runaway_quote(text, problem_mark.index)
        if opened is not None:
            return YamlProblem(
                opened.line + 1,
                opened.column + 1,
                Mistake.RUNAWAY_QUOTE,
                runs_to=problem_mark.line + 1,
            )
    found = _FOUND.search(problem)
    char = found.group(1) if found else None
    mistake, at_context = _mistake(problem, context, char)
    mark = getattr(exc, "context_mark", None) if at_context else None
    mark = mark or problem_mark
    char = char if mistake is Mistake.SPECIAL_START and char else ""
    if mark is None:
        return YamlProblem(None, None, mistake, char)
    return YamlProblem(int(mark.line) + 1, int(mark.column) + 1, mistake, char)


def ascii_id(text: str) -> str:
    """The id an admin most likely meant: 'Kommuneøkonomi' -> 'kommuneokonomi',
    'Bo trygt hjemme' -> 'bo-trygt-hjemme'."""
    return "-".join(fold(text).split())


def id_advice(value: str) -> str:
    """Why `value` is not a valid id (in Norwegian), and the valid spelling when there is one."""
    message = messages.ID_INVALID.format(value=value)
    suggestion = ascii_id(value)
    if suggestion and suggestion != value:
        message += messages.ID_WRITE_INSTEAD.format(suggestion=suggestion)
    return message
