"""The built-in agents, one module each. See docs/agents.md for parameters and outputs."""
