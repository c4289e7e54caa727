"""The workflow language: text in, a checked `Definition` out.

`yaml_source` reads YAML safely (size, depth and alias limits, core tags only) and keeps a mark for
every value; `model` holds the language as pydantic models; `expressions` and `templates` compile
`${{ }}`; `loader` ties them together, runs the semantic checks (needs, cycles, scopes, each agent's
parameters through the `AgentCatalog` seam) and reports every problem at FILE:LINE:COL. Nothing
here runs anything: this layer imports only `mastermind.errors` and itself.
"""
