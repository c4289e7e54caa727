"""mastermind: an asyncio workflow orchestration daemon, and its Python API.

```python
import mastermind

flow = mastermind.load("flow.yaml")
async with mastermind.Coordinator(state_dir="state") as c:
    result = await c.run(flow, inputs={"n": 3})   # result.status, .outputs, .steps, .run_id
```

The public names are resolved on first use (module `__getattr__`), so `import mastermind` stays
cheap for the command line. They live in `mastermind.embed` (see docs/python-api.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "Coordinator",
    "MastermindError",
    "Params",
    "Result",
    "Settings",
    "StepContext",
    "StepError",
    "Workflow",
    "WorkflowError",
    "__version__",
    "agent",
    "load",
    "loads",
    "registry",
    "run",
]

if TYPE_CHECKING:  # what type checkers and editors see (re-exported through __all__)
    from mastermind.embed import (
        Coordinator,
        Result,
        Workflow,
        agent,
        load,
        loads,
        registry,
        run,
    )
    from mastermind.engine.agent import Agent, Params, StepContext
    from mastermind.engine.settings import Settings
    from mastermind.errors import MastermindError, StepError, WorkflowError

_HOMES = {
    "Coordinator": "mastermind.embed",
    "Result": "mastermind.embed",
    "Workflow": "mastermind.embed",
    "agent": "mastermind.embed",
    "load": "mastermind.embed",
    "loads": "mastermind.embed",
    "registry": "mastermind.embed",
    "run": "mastermind.embed",
    "Agent": "mastermind.engine.agent",
    "Params": "mastermind.engine.agent",
    "StepContext": "mastermind.engine.agent",
    "Settings": "mastermind.engine.settings",
    "MastermindError": "mastermind.errors",
    "StepError": "mastermind.errors",
    "WorkflowError": "mastermind.errors",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'mastermind' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
