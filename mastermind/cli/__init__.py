"""The command line: `mastermind ...`. Owns the terminal; everything else logs.

`main` parses arguments and dispatches; `run` and `runs` work on the embedded store in-process;
`client` talks to a daemon over HTTP; `worker` starts a scale-out worker; `progress` draws run
progress; `socratic_console` is the interactive premise console.
"""
