# The supervisor of one shell step's process group (POSIX sh; the shell agent runs it as
# `setpriv --pdeathsig TERM sh shell_supervisor.sh PARENT_PID GO_FD ARGV...`, in a new session,
# so its pid is the group id). It
# 1. gets SIGTERM when its parent, the process running the step, dies (setpriv sets
#    PR_SET_PDEATHSIG), and exits at once if that parent is already gone;
# 2. waits for "1" on GO_FD: the agent sends it only after the step's `process` event (pid,
#    start time, group) is committed; EOF instead means "do not run";
# 3. runs the command in the same group, lets go of the step's pipes, and exits with the
#    command's status (or dies of the same signal);
# 4. on SIGTERM, looks at its parent: gone -> SIGKILL the whole group (nothing the step started
#    outlives the process that ran it); alive -> the agent is ending the group, the command got
#    the same SIGTERM and its grace period, so keep waiting for it.
parent=$1
go_fd=$2
shift 2
orphaned() {
    read -r _ _ _ ppid _ < /proc/$$/stat
    [ "$ppid" != "$parent" ]
}
trap 'if orphaned; then kill -KILL 0; fi' TERM
if orphaned; then exit 125; fi
go=
# dash redirects only fds 0-9; the pipe is reopened through /proc instead (the command inherits
# the descriptor, harmless: the agent has closed the other end by then)
read -r go < "/proc/$$/fd/$go_fd" || true
[ "$go" = 1 ] || exit 0
# without job control, an asynchronous command's stdin is /dev/null unless redirected from a
# descriptor saved first
exec 3<&0
"$@" <&3 3<&- &
child=$!
exec </dev/null >/dev/null 2>&1
while :; do
    wait "$child"
    status=$?
    kill -0 "$child" 2>/dev/null || break
done
if [ "$status" -gt 128 ]; then
    trap - TERM
    kill -s "$(kill -l "$status")" $$
fi
exit "$status"
