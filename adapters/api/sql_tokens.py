"""The SQL door's first reading: a statement tokenized (sqlglot, ClickHouse dialect) and rebuilt from its
tokens, refusing comments, stray or invisible characters, parameters and a second statement, then every
call by name checked against the allow-list (adapters/api/sql_allowlist.py)."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence

from sqlglot.dialects.clickhouse import ClickHouse
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from .sql_allowlist import REFUSED_WORDS, STRUCTURAL, SqlRefused, function_allowed, function_refusal

MAX_STATEMENT = 20_000  # characters: an analyst's query, not a payload

DIALECT = ClickHouse()
_SPACE = frozenset(" \t\r\n")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# Unicode categories refused everywhere: controls, format (zero-width, bidi overrides), private use,
# surrogates, and separators other than the ASCII space (no-break and ideographic spaces, line separators).
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp", "Zs"})


def _quote(text: str) -> str:
    """A ClickHouse string literal holding exactly `text` (escapes every quote and backslash)."""
    for ch in text:
        if ch not in _SPACE and ch != " " and unicodedata.category(ch) in _INVISIBLE:
            raise SqlRefused(
                f"character U+{ord(ch):04X} in a string", "control and invisible characters are not allowed"
            )
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _gap(text: str, start: int) -> None:
    """What stands between two tokens must be plain whitespace: anything else is a comment or a trick."""
    for offset, ch in enumerate(text):
        if ch in _SPACE:
            continue
        rest = text[offset:]
        if rest.startswith(("--", "/*", "#")):
            raise SqlRefused(
                f"comment at character {start + offset}", "comments are not allowed", "remove it"
            )
        raise SqlRefused(
            f"character U+{ord(ch):04X} at {start + offset}", "only ASCII whitespace may separate words"
        )


def _tokens(sql: str) -> list[Token]:
    try:
        return list(DIALECT.tokenize(sql))
    except (SqlglotError, ValueError, RecursionError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise SqlRefused("the statement", f"cannot be read: {first}") from None


def canonical(sql: str) -> tuple[str, list[Token]]:
    """The statement rebuilt from its tokens (whitespace collapsed, strings re-quoted), and the tokens.
    Refuses comments, stray characters, non-ASCII outside strings, query parameters and `;` inside."""
    tokens, end = _statement_tokens(sql)
    parts: list[str] = []
    position = 0
    for index, token in enumerate(tokens):
        _gap(sql[position : token.start], position)
        if parts and token.start > position:
            parts.append(" ")
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        parts.append(_rebuilt(sql[token.start : token.end + 1], token, following))
        position = token.end + 1
    _gap(sql[position:end], position)
    return "".join(parts), tokens


def _statement_tokens(sql: str) -> tuple[list[Token], int]:
    """The tokens of one statement that starts as a query, and where it ends (before one trailing `;`)."""
    if len(sql) > MAX_STATEMENT:
        raise SqlRefused("the statement", f"is longer than {MAX_STATEMENT} characters")
    for offset, ch in enumerate(sql):
        if ch not in _SPACE and unicodedata.category(ch) in _INVISIBLE:
            raise SqlRefused(
                f"character U+{ord(ch):04X} at {offset}",
                "control, invisible and non-ASCII space characters are not allowed anywhere",
            )
    tokens = _tokens(sql)
    end = len(sql)
    if tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        end = tokens.pop().start  # one trailing ";" is harmless; any other is a second statement
        _gap(sql[end + 1 :], end + 1)
    if not tokens:
        raise SqlRefused("the statement", "is empty", "give one SELECT")
    # Checked on the first token: sqlglot reads what follows a leading command word as one string.
    if tokens[0].token_type not in (TokenType.SELECT, TokenType.WITH, TokenType.L_PAREN):
        raise SqlRefused(f"{tokens[0].text.upper()} statement", "only SELECT (or WITH … SELECT) is allowed")
    return tokens, end


def _rebuilt(source: str, token: Token, following: Token | None) -> str:
    """One token as the door writes it: strings re-quoted, names back-quoted, anything else as it stood."""
    kind = token.token_type
    if kind in (TokenType.STRING, TokenType.HEREDOC_STRING):
        return _quote(token.text)
    if kind == TokenType.IDENTIFIER:
        if not _IDENTIFIER.match(token.text):
            raise SqlRefused(f"quoted name {source}", "names may hold ASCII letters, digits and _ only")
        return f"`{token.text}`"
    if kind.name.endswith("STRING") and kind not in (TokenType.HEX_STRING, TokenType.BIT_STRING):
        raise SqlRefused(f"literal {source}", "only plain 'quoted' strings are allowed")
    if "'" in source or '"' in source or "`" in source:
        raise SqlRefused(f"literal {source}", "only plain 'quoted' strings are allowed")
    bad = next((ch for ch in source if not (" " < ch < "\x7f" or ch in _SPACE)), None)
    if bad is not None:
        raise SqlRefused(
            f"character U+{ord(bad):04X} in {source!r}",
            "outside strings only printable ASCII is allowed",
        )
    if kind == TokenType.SEMICOLON:
        raise SqlRefused("a second statement after ';'", "the door runs one statement at a time")
    if kind in (TokenType.L_BRACE, TokenType.R_BRACE, TokenType.PLACEHOLDER, TokenType.PARAMETER):
        raise SqlRefused(f"{source!r}", "query parameters and placeholders are not allowed")
    word = source.upper()
    if word == "INTO" and following is not None and following.text.upper() == "OUTFILE":
        word = "OUTFILE"
    if word in REFUSED_WORDS:
        what, why = REFUSED_WORDS[word]
        raise SqlRefused(what, why)
    return source


def check_calls(tokens: Sequence[Token]) -> None:
    for token, after in itertools.pairwise(tokens):
        if after.token_type != TokenType.L_PAREN:
            continue
        name = token.text
        if not name or not (name[0].isalpha() or name[0] == "_"):
            continue  # an operator, a bracket or a literal before "(": not a call by name
        if token.token_type != TokenType.IDENTIFIER and name.upper() in STRUCTURAL:
            continue
        if not function_allowed(name):
            raise function_refusal(name)
