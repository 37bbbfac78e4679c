"""pyrocsa's docstring style, made into reStructuredText that Sphinx renders as intended (no Sphinx needed).

pyrocsa's docstrings use numpy-style section headers (``Parameters`` / ``Attributes`` / ``Returns`` over a
dashed line) with a lighter body: each entry is ``names : what it is`` on one line (several names may
share an entry, and a short entry may follow another on the same line after a full stop), continued on
indented lines; ``Returns`` is a sentence. numpydoc and napoleon would read the text after `` : `` as a
type (and napoleon splits every attribute's docstring at its first colon), so :func:`normalise`
(connected to ``autodoc-process-docstring``) turns these sections into field lists of the form napoleon
writes (``:Parameters: * **alpha** -- ...``) and any other section (``Examples``) into a rubric. Entries
written in full numpydoc form (``t0, t1 : array (S, N)`` over an indented description) keep their type.
Plain-text absolute values such as ``|z|`` are escaped so that docutils does not take them for
substitutions.
"""

from __future__ import annotations

import re

#: sections rewritten as field lists (any other section becomes a rubric over its text)
ENTRY_SECTIONS = ("Parameters", "Other Parameters", "Attributes")
TEXT_SECTIONS = ("Returns",)
_NAMES = r"\*{0,2}[A-Za-z_][\w.]*(?:\s*,\s*\*{0,2}[A-Za-z_][\w.]*)*"
_ENTRY = re.compile(rf"^({_NAMES})\s+:\s+(.*)$")
# a second entry on the same line: "... (CUDA when available). verbose : progress bar"
_INLINE_ENTRY = re.compile(rf"(?<=[.;)]) +(?=(?:{_NAMES}) : )")
# |...| outside inline literals and roles, on one line, not a table border
_BARS = re.compile(r"(?<![\\`|])\|(?=[^|\s`])([^|`\n]*?)(?<=[^\s\\])\|(?![`|_])")
_LITERAL = re.compile(r"(``.*?``|`[^`]*`)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _is_header(lines: list[str], i: int, names) -> bool:
    """Whether lines[i] is a section header (a title over dashes) named in ``names`` (None: any)."""
    return (i + 1 < len(lines) and lines[i].strip() != "" and _indent(lines[i]) == 0
            and (names is None or lines[i].strip() in names)
            and re.fullmatch(r"-{3,}", lines[i + 1].strip() or "x") is not None)


def _section_end(lines: list[str], start: int) -> int:
    """The first line after the section body that starts at ``start``: a blank line ends it unless the
    next line is another entry."""
    i = start
    while i < len(lines):
        if not lines[i].strip():
            nxt = next((ln for ln in lines[i + 1:] if ln.strip()), None)
            if nxt is None or _indent(nxt) > 0 or not _ENTRY.match(nxt):
                return i
        elif _indent(lines[i]) == 0 and re.fullmatch(r"-{3,}", (lines[i + 1] if i + 1 < len(lines)
                                                                   else "").strip() or "x"):
            return i  # the next section's header
        i += 1
    return i


def _entries(body: list[str]) -> list[tuple[str, str | None, list[str]]]:
    """(names, type or None, description lines) of a section body."""
    flat: list[str] = []
    for line in body:
        if not line.strip():
            continue
        first, *more = _INLINE_ENTRY.split(line)
        flat.append(first)
        flat.extend(part.strip() for part in more)  # each a new entry
    out: list[list] = []
    for line in flat:
        m = _ENTRY.match(line) if _indent(line) == 0 else None
        if m:
            out.append([m.group(1), m.group(2).strip(), []])
        elif out:
            out[-1][2].append(line.strip())
        else:
            out.append(["", line.strip(), []])
    result = []
    for names, first, rest in out:
        typed = (rest and len(first) <= 50 and not first.endswith((".", ",", ";", ":", "("))
                 and rest[0][:1].isupper())
        if typed:
            result.append((names, first, rest))
        else:
            result.append((names, None, [first] + rest))
    return result


def _field(title: str, entries) -> list[str]:
    lines = [f":{title}:"]
    for names, typ, desc in entries:
        shown = ", ".join(rf"**{n.strip().replace('*', chr(92) + '*')}**" for n in names.split(","))
        head = f"    * {shown}" if names else "    *"
        if typ:
            head += f" (*{typ}*)"
        text = desc or [""]
        lines.append(f"{head} -- {text[0]}" if names else f"{head} {text[0]}")
        lines.extend(f"      {d}" for d in text[1:])
    return lines + [""]


def _escape_bars(line: str) -> str:
    parts = _LITERAL.split(line)
    for k in range(0, len(parts), 2):  # even parts are outside literals and roles
        parts[k] = _BARS.sub(lambda m: rf"\|{m.group(1)}\|", parts[k])
    return "".join(parts)


def normalise(lines: list[str]) -> list[str]:
    """The docstring ``lines`` (as autodoc passes them: dedented) rewritten as described above."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        if _is_header(lines, i, ENTRY_SECTIONS + TEXT_SECTIONS):
            title = lines[i].strip()
            end = _section_end(lines, i + 2)
            body = lines[i + 2:end]
            if out and out[-1].strip():
                out.append("")
            if title in TEXT_SECTIONS:
                text = [ln.strip() for ln in body if ln.strip()]
                out += [f":{title}:"] + [f"    {t}" for t in text] + [""]
            else:
                out += _field(title, _entries(body))
            i = end
            continue
        if _is_header(lines, i, None):  # any other section ("Examples", "Notes"): a rubric over its text
            out += [f".. rubric:: {lines[i].strip()}", ""]
            i += 2
            continue
        out.append(lines[i])
        i += 1
    return [_escape_bars(line) for line in out]
