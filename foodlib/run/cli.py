"""What every command-line entry point shares: a usage error is one line, not a traceback.

Like argparse's own errors, a mistyped parameter (`config.ParameterError`) or a
missing upstream artifact (`artifacts.MissingArtifactError`) caught here prints
`<prog>: <message>` on stderr and exits with status 2. Inside a notebook the
same errors stay exceptions: only entry points use `usage_errors`.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Iterator

from foodlib.config import ParameterError

USAGE_STATUS = 2  # argparse's exit status for a usage error


def _usage_error_types() -> tuple[type[BaseException], ...]:
    # MissingArtifactError lives in foodlib.artifacts, which imports pandas: look it up only when that
    # module is loaded (if it is not, nothing can have raised it), so a CLI's start stays fast.
    artifacts = sys.modules.get("foodlib.artifacts")
    return (ParameterError,) if artifacts is None else (ParameterError, artifacts.MissingArtifactError)


def one_line(message: str) -> str:
    """`message` with its lines joined by spaces (a usage error is a single line)."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


@contextlib.contextmanager
def usage_errors(prog: str) -> Iterator[None]:
    """Turn a ParameterError or MissingArtifactError inside the block into `prog: message` and exit 2."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 - re-raised unless it is a usage error
        if not isinstance(err, _usage_error_types()):
            raise
        print(f"{prog}: {one_line(str(err))}", file=sys.stderr, flush=True)
        raise SystemExit(USAGE_STATUS) from None
