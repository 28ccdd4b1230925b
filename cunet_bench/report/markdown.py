"""Building blocks of the report's text: sections, the claim rows of the summary, Markdown tables."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable

from cunet_bench.numbers import number
from cunet_bench.report.verdicts import DEPENDS, NOT_MEASURED, Interval, reading_at_this_scale

CLAIM, CONCESSION, NON_CLAIM = "claim", "concession", "non-claim"
RELEASED, DESCRIBED = " — cU-Net as released", " — cU-Net as the paper describes it (variant)"
FLAVOURS = (RELEASED, DESCRIBED)
"""The two cU-Nets a quality claim is judged for, as the suffix of its row's title."""
GROUPS = {
    CLAIM: "The paper's claims",
    CONCESSION: "What the paper concedes",
    NON_CLAIM: "Our own measurements (not claims of the paper)",
}


SUMMARY_CELL = 200
"""The longest cell of the Summary, in characters: the whole table fits a screen; the evidence
lives in each claim's section."""
CURVES_ANCHOR = "learning-curves"
GATED = ("undertrained", "convergence not checked")
"""How the reason of a row held by the convergence gate begins."""


def headline(text: str, limit: int) -> str:
    """The first statement of a cell — up to its first "; " outside brackets — in at most
    ``limit`` characters (cut at a word, with "…")."""
    depth, first = 0, text
    for index, character in enumerate(text):
        if character in "([":
            depth += 1
        elif character in ")]":
            depth -= 1
        elif depth == 0 and text.startswith("; ", index):
            first = text[:index] + " …"
            break
    if len(first) <= limit:
        return first
    return first[: limit - 2].rsplit(" ", 1)[0] + " …"


@dataclass(frozen=True)
class Effect:
    """What the claims figure draws for a row: the measured effect with its interval, the claim's
    thresholds and the paper's own value, on a ratio (log) or a difference scale."""

    interval: Interval
    label: str
    thresholds: tuple[float, ...] = ()
    paper: float | None = None
    ratio: bool = False


@dataclass
class Claim:
    claim: str
    paper: str
    ours: str
    verdict: str
    section: str
    rule: str = ""
    reason: str = ""
    """Why the verdict is what it is when the rule could not decide (undertrained, one seed, busy machine)."""
    group: str = CLAIM
    order: int = 0
    """The claim's place in the paper (abstract, then sections); rows are listed in this order."""
    runs: tuple[str, ...] = ()
    """The run ids the claim rests on (a smoke run among them makes it a pipeline check)."""
    key: str = ""
    """The paper's claim this row tests (``claims.statements``): rows of one key are one claim."""
    effect: Effect | None = None
    """The row's effect for the claims figure (None: a row with no one number to draw)."""
    gate: str | None = None
    """The convergence gate's reason for the compared models ("" when it is open; None where it
    does not apply), whatever an earlier rule (the grid's edge) made the verdict."""

    @property
    def flavour(self) -> str:
        """Which cU-Net the row judges (:data:`FLAVOURS`), or "" for a row about the pair itself."""
        return next((flavour for flavour in FLAVOURS if flavour in self.claim), "")

    @property
    def title(self) -> str:
        """The row's title without the cU-Net it judges: the claim's own title."""
        return self.claim.replace(self.flavour, "")

    @property
    def shown_verdict(self) -> str:
        return f"**{self.verdict}**" + (f" ({self.reason})" if self.reason else "")

    @property
    def gated(self) -> bool:
        """Whether the convergence gate holds the row (its evidence is in the Learning curves section)."""
        return self.reason.startswith(GATED)

    @property
    def short_verdict(self) -> str:
        """The verdict in a few words: a gated row names the gate, links its evidence and says
        once which way its measurement points; two readings that differ say so; any other reason
        is cut to its first statement."""
        reading = reading_at_this_scale(self.reason) if self.verdict != DEPENDS else None
        pointing = f"; points to *{reading}*" if reading else ""
        if self.gated:
            return f"**{self.verdict}** — undertrained ([§ Learning curves](#{CURVES_ANCHOR})){pointing}"
        if self.verdict == DEPENDS:
            return f"**{self.verdict}** (the two readings differ; see its section)"
        reason = self.reason.split("; at this scale")[0]
        return f"**{self.verdict}**" + (f" ({headline(reason, 90)})" if reason else "") + pointing

    @property
    def section_verdict(self) -> str:
        """The verdict as its section shows it: whole, except the gate's evidence, which the
        Learning curves section holds once."""
        return self.short_verdict if self.gated else self.shown_verdict


def group_by_claim(claims: Iterable[Claim]) -> list[list[Claim]]:
    """The rows of each claim together (the released cU-Net's first), in the order of the claims."""
    grouped: dict[str, list[Claim]] = {}
    for claim in claims:
        grouped.setdefault(claim.title, []).append(claim)
    return [sorted(rows, key=lambda row: row.flavour == DESCRIBED) for rows in grouped.values()]


@dataclass
class Section:
    anchor: str
    title: str
    body: list[str] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)


def _cell(text: str) -> str:
    """A table cell that stays one inert cell: a pipe escaped, HTML tags and @-mentions of text
    read from results files written as entities (the report's own links and emphasis stay)."""
    text = text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"@(?=\w)", "&#64;", text)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_no rows_"
    columns = list(dict.fromkeys(column for row in rows for column in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(number(row.get(c))) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _printable(text: object, limit: int) -> str:
    """``text`` with undecodable bytes and control characters shown as escapes, at most ``limit``
    characters."""
    shown = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    shown = "".join(
        character if unicodedata.category(character)[0] != "C" else character.encode("unicode_escape").decode("ascii")
        for character in shown
    )
    return shown[:limit] + ("…" if len(shown) > limit else "")


def code(text: object, limit: int = 300) -> str:
    """Untrusted text (a command line, a path) as one inline code span, backticks replaced."""
    return f"`{_printable(text, limit).replace('`', chr(39))}`"


def plain(text: object, limit: int = 300) -> str:
    """Untrusted text (a value of a provenance file) as inert Markdown: no markup, link, HTML or
    mention survives."""
    shown = re.sub(r"([\\`*_\[\]|])", r"\\\1", _printable(text, limit))
    return _cell(shown.replace("\\|", "|"))


def missing(section: Section, what: str, command: str) -> Section:
    """A section whose results do not exist yet: say so and give the command that makes them."""
    section.body.append(f"**Not measured yet**: {what}. Produce it with:\n\n```\n{command}\n```")
    return section


def not_measured(claim: str, paper: str, section: str, why: str, order: int = 0, group: str = CLAIM) -> Claim:
    return Claim(claim, paper, why, NOT_MEASURED, section, order=order, group=group)
