"""SAEHD archi strings (`liae-ud`, `df-udtc`, ...) parsed into flags that select network blocks.

DFL accepts `df` or `liae`, optionally followed by `-` and any of `u` (pixel-norm the encoder code),
`d` (double resolution: extra depth-to-space head), `t` (deeper encoder/decoder with residual blocks),
`c` (`x*cos(x)` activations). Keeping the string as the user typed it matters: it is stored verbatim
in data.dat's options.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuface.errors import UsageError

ARCHI_TYPES = ("df", "liae")
ARCHI_FLAGS = "udtc"


@dataclass(frozen=True)
class Archi:
    """A parsed archi: its type and modifier letters (in the user's order, as DFL keeps them)."""

    type: str
    opts: str = ""

    @property
    def u(self) -> bool:
        return "u" in self.opts

    @property
    def d(self) -> bool:
        return "d" in self.opts

    @property
    def t(self) -> bool:
        return "t" in self.opts

    @property
    def c(self) -> bool:
        return "c" in self.opts

    @property
    def is_liae(self) -> bool:
        return self.type == "liae"

    def __str__(self) -> str:
        return f"{self.type}-{self.opts}" if self.opts else self.type


def parse_archi(text: str) -> Archi:
    """Parse like DFL's prompt does; anything DFL would re-ask for is a UsageError here."""
    raw = str(text).strip().lower()
    parts = raw.split("-")
    if len(parts) > 2:
        raise UsageError(f"archi {text!r}: expected df or liae, optionally -<flags from {ARCHI_FLAGS}>")
    archi_type, opts = parts[0], (parts[1] if len(parts) == 2 else "")
    if archi_type not in ARCHI_TYPES:
        raise UsageError(f"archi {text!r}: type must be one of {', '.join(ARCHI_TYPES)}")
    if len(parts) == 2 and not opts:
        raise UsageError(f"archi {text!r}: empty flags after '-'")
    bad = sorted({ch for ch in opts if ch not in ARCHI_FLAGS})
    if bad:
        raise UsageError(f"archi {text!r}: unknown flag(s) {''.join(bad)} (allowed: {ARCHI_FLAGS})")
    return Archi(archi_type, opts)
