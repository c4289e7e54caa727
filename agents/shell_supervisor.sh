# The supervisor of one shell step's processes (POSIX sh; the shell agent runs it as
# `sh shell_supervisor.sh PARENT_PID ARGV...` in a new session, so its pid is the group id,
# with only descriptors 0, 1 and 2 open, as a child subreaper (PR_SET_CHILD_SUBREAPER: what the
# command starts and leaves behind, even in another session after `setsid` or a double fork, is
# re-parented to the supervisor, not to init) that gets SIGUSR2 when its parent dies
# (PR_SET_PDEATHSIG); both set by the agent between fork and exec). It
# 1. exits at once if its parent, the process running the step, is already gone;
# 2. reads the line "1" on its stdin: the agent sends it only after the step's `process` event
#    (pid, start time, group) is committed; EOF instead means "do not run". The rest of stdin
#    is the command's;
# 3. runs the command in the same group, lets go of the step's pipes, and when the command
#    exits, SIGKILLs every descendant still alive (whatever group or session it is in), then
#    exits with the command's status (or dies of the same signal);
# 4. on SIGUSR2, if its parent is gone: SIGKILLs every descendant and exits (nothing the step
#    started outlives the process that ran it);
# 5. on SIGTERM (the agent is ending the step and sent it to the group): passes it to the
#    descendants outside the group and keeps waiting (and does not start the command if it
#    has not started yet);
# 6. on SIGUSR1 (the agent's grace period is over), SIGKILLs every descendant.
parent=$1
shift
orphaned() {
    read -r _ _ _ ppid _ < /proc/$$/stat
    [ "$ppid" != "$parent" ]
}
# Sets $found to the live descendants of this shell (outside its group if $outside is set),
# reading /proc only (no command substitution: a subshell would be a descendant too).
descendants() {
    found=
    todo=$$
    while [ -n "$todo" ]; do
        set -- $todo
        p=$1
        shift
        todo=$*
        for f in /proc/"$p"/task/*/children; do
            kids=
            { read -r kids < "$f" || :; } 2>/dev/null
            for k in $kids; do
                todo="$todo $k"
                line=
                { read -r line < "/proc/$k/stat" || :; } 2>/dev/null
                [ -n "$line" ] || continue
                set -- ${line##*) }  # state ppid pgrp ...
                [ "$1" != Z ] || continue
                [ -z "${outside:-}" ] || [ "$3" != $$ ] || continue
                found="$found $k"
            done
        done
    done
}
# SIGKILL every descendant until none is left alive: the orphans of a killed process are
# re-parented here and found by the next round. Bounded: a process we may not signal (setuid)
# must not make the supervisor spin for ever.
kill_tree() {
    rounds=0
    while descendants; [ -n "$found" ] && [ "$rounds" -lt 5000 ]; do
        kill -KILL $found 2>/dev/null
        rounds=$((rounds + 1))
    done
}
on_term() {
    ending=1
    outside=1
    descendants
    outside=
    [ -z "$found" ] || kill -TERM $found 2>/dev/null
}
ending=
trap 'if orphaned; then kill_tree; exit 143; fi' USR2
trap on_term TERM
trap kill_tree USR1
if orphaned; then exit 125; fi
go=
read -r go || :
[ "$go" = 1 ] && [ -z "$ending" ] || exit 0  # not after SIGTERM: the step is ending
# without job control, an asynchronous command's stdin is /dev/null unless redirected from a
# descriptor saved first
exec 3<&0
# A trapped signal that reaches the command's subshell between fork and exec would run the
# trap there and be lost to the command: no trap meanwhile (a SIGTERM then ends both).
trap - TERM
"$@" <&3 3<&- &
child=$!
trap on_term TERM
[ -z "$ending" ] || kill -TERM "$child"  # SIGTERM came between the check and the start
exec </dev/null >/dev/null 2>&1 3<&-
while :; do
    wait "$child"
    status=$?
    kill -0 "$child" 2>/dev/null || break
done
kill_tree
if [ "$status" -gt 128 ]; then
    trap - TERM
    kill -s "$(kill -l "$status")" $$
fi
exit "$status"
