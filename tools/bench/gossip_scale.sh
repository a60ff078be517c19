#!/bin/sh
# gossip_scale.sh - how membership behaves as the cluster grows: agents on
# loopback, measured from their own member tables.  A benchmark, not a
# test: it prints figures and the targets, and passes or fails nothing.
#
#   tools/bench/gossip_scale.sh [--sizes "10 50 100 150"] [--reps R]
#                               [--profile lan|fast] [--stop-trials K]
#                               [--hog-n N] [--hog-seconds S]
#                               [--stagger MS] [--poll-jobs J]
#                               [--converge-timeout S]
#                               [--addresses own|shared]
#                               [--formation-poll logs|members]
#                               [--keep] [--testmesh PATH]
#
#   --sizes LIST     cluster sizes (default "10 50 100 150")
#   --reps R         repetitions per size (default 3 for N <= 50, else 1);
#                    figures are medians over repetitions
#   --profile P      gossip profile of every agent (default lan)
#   --stop-trials K  SIGSTOP/SIGCONT trials per repetition (default 3)
#   --hog-n N        cluster size of the CPU-hog run (default 50; 0 skips it)
#   --hog-seconds S  length of the CPU-hog run (default 60)
#   --stagger MS     pause between agent starts (default 0: all at once)
#   --poll-jobs J    agents polled at once (default 2 x cores)
#   --converge-timeout S  give up waiting for convergence (default 180)
#   --addresses A    own (default): agent I binds 127.0.1.I (all of
#                    127/8 is loopback), so each agent has an address of
#                    its own, as each machine of a LAN does; shared: every
#                    agent binds 127.0.0.1 (admissions are rate-limited
#                    per peer address, 50 a second, so N agents on one
#                    address need N / 50 s to be admitted)
#   --formation-poll W  how to tell the cluster formed: logs (default):
#                    follow the agents' logs, then confirm with members
#                    --json; members: poll members --json all along (the
#                    calls can make busy agents leave, see converge ())
#   --keep           keep the agents' data directories and logs (the
#                    path is printed); by default everything is removed
#   --testmesh PATH  the binary (default $TESTMESH, else build/testmesh)
#
# Every agent runs `testmesh agent --bind 127.0.1.I:0 --no-beacon
# --profile P --join-timeout 300 --data DIR --name aI`; agent 1 creates the
# cluster and the others all join through its token at once.  (The
# longer --join-timeout: with --addresses shared, admissions are
# rate-limited per peer IP, and every joiner has the same one.)  For each size and repetition:
#
#   admit       from starting the last agent until the last one was
#               admitted (its own table exists: its "self" entry's since)
#   converge    from starting the last agent until EVERY agent sees all N
#               alive.  We follow the agents' logs until each has logged
#               every other as joined/alive, then poll every agent's table
#               (`testmesh members --json`, J at a time) until all show N
#               alive; the figure comes from the tables themselves: the
#               latest "since" of an alive member over all views, so the
#               time polling takes does not inflate it.  (Why not poll the
#               tables all along: see converge () below.)
#   form CPU    CPU seconds all agents used from start to convergence
#   idle CPU, RSS  of every agent over 10 s, 2 s after convergence, with
#               no polling (utime+stime and VmRSS from /proc); median and
#               max over agents
#   stop->dead  SIGSTOP one agent (random, not agent 1): until every other
#               agent's table says dead (latest "since" of its dead entry)
#   cont->alive SIGCONT it: until every other agent's table says alive
#               again at a new incarnation (it refuted)
#   kill->dead  SIGKILL another agent: until every other says dead
#
# Then the CPU-hog run: a fresh cluster of --hog-n agents converges, one
# busy loop per core starts (`sh -c 'while :; do :; done'`) and for
# --hog-seconds every agent's table is sampled every 0.5 s (as fast as the
# loaded machine allows; the count of samples taken is printed).  Nothing
# is killed, so every member seen dead is a false 'dead'; we count those,
# the members seen suspect, the 'dead'/'suspect' lines the agents logged
# in the window (which catch what sampling misses), and the growth of
# probes_failed and the highest awareness from `testmesh stats`.
#
# Targets: kill->dead < 1 s, stop->dead < 5 s (p99: with few trials we
# print the max), no false dead under the hog, idle CPU < 0.5 %, RSS
# < 30 MB per agent.  Everything started is stopped on exit.  A full run
# takes about 20 minutes (more when a size does not converge: each waits
# --converge-timeout).  Results: docs/benchmarks.md.

me=gossip_scale.sh
root=$(cd "$(dirname "$0")/../.." && pwd)

sizes="10 50 100 150"; reps=""; profile=lan; stop_trials=3
hog_n=50; hog_secs=60; stagger=0; poll_jobs=""; conv_timeout=180
formation_poll=logs; keep=false; addresses=own
testmesh=${TESTMESH:-$root/build/testmesh}

usage_error () {
    printf '%s: %s (see %s --help)\n' "$me" "$1" "$me" >&2
    exit 2
}
fail () {
    printf '%s: %s\n' "$me" "$1" >&2
    exit 1
}
say () { printf '%s: %s\n' "$me" "$*" >&2; }
is_count () {
    case $1 in ''|*[!0-9]*) return 1 ;; esac
    [ "${#1}" -le 6 ]
}

while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        --keep) keep=true; shift; continue ;;
        --*=*) opt=${1%%=*}; val=${1#*=}; shift ;;
        --*) [ $# -ge 2 ] || usage_error "option $1 needs a value"
             opt=$1; val=$2; shift 2 ;;
        *) usage_error "unknown argument '$1'" ;;
    esac
    case $opt in
        --sizes) sizes=$val
                 for n in $sizes; do
                     is_count "$n" && [ "$n" -ge 3 ] || usage_error "--sizes wants numbers >= 3, not '$n'"
                 done ;;
        --reps) is_count "$val" && [ "$val" -ge 1 ] || usage_error "--reps wants a positive number"
                reps=$val ;;
        --profile) case $val in lan|fast) profile=$val ;; *) usage_error "--profile wants lan or fast" ;; esac ;;
        --stop-trials) is_count "$val" || usage_error "--stop-trials wants a number"
                       stop_trials=$val ;;
        --hog-n) is_count "$val" || usage_error "--hog-n wants a number"
                 [ "$val" -eq 0 ] || [ "$val" -ge 3 ] || usage_error "--hog-n wants 0 or >= 3"
                 hog_n=$val ;;
        --hog-seconds) is_count "$val" && [ "$val" -ge 1 ] || usage_error "--hog-seconds wants a positive number"
                       hog_secs=$val ;;
        --stagger) is_count "$val" || usage_error "--stagger wants milliseconds"
                   stagger=$val ;;
        --poll-jobs) is_count "$val" && [ "$val" -ge 1 ] || usage_error "--poll-jobs wants a positive number"
                     poll_jobs=$val ;;
        --converge-timeout) is_count "$val" && [ "$val" -ge 1 ] || usage_error "--converge-timeout wants seconds"
                            conv_timeout=$val ;;
        --formation-poll) case $val in logs|members) formation_poll=$val ;;
                          *) usage_error "--formation-poll wants logs or members" ;; esac ;;
        --addresses) case $val in own|shared) addresses=$val ;;
                     *) usage_error "--addresses wants own or shared" ;; esac ;;
        --testmesh) testmesh=$val ;;
        *) usage_error "unknown option '$opt'" ;;
    esac
done
cores=$(nproc)
[ -n "$poll_jobs" ] || poll_jobs=$((2 * cores))
[ -x "$testmesh" ] || fail "no testmesh binary at $testmesh (build it: make)"
for tool in awk xargs sort date; do
    command -v "$tool" > /dev/null 2>&1 || fail "$tool not found"
done

# Two sockets per peer and agent, and ours: raise the descriptor limit
ulimit -n "$(ulimit -Hn)" 2>/dev/null
max=0
for n in $sizes $hog_n; do [ "$n" -gt "$max" ] && max=$n; done
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((4 * max + 64)) ] \
    || say "warning: descriptor limit $(ulimit -n) may be low for $max agents"

work=$(mktemp -d "${TMPDIR:-/tmp}/tm-gossip.XXXXXX") || fail "cannot create a temporary directory"
results=$work/results               # "N rep metric value" lines
: > "$results"
agent_pids=""                       # agents of the current cluster
hog_pids=""
cleanup () {
    for pid in $hog_pids; do kill -KILL "$pid" 2>/dev/null; done
    stop_agents
    if $keep; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

now () { date +%s.%N; }
# fadd A B / fsub A B / fgt A B: float arithmetic and comparison
fsub () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
fafter () { awk -v a="$1" -v s="$2" 'BEGIN { printf "%.3f", a + s }'; }
past () { awk -v d="$1" -v t="$(now)" 'BEGIN { exit !(t >= d) }'; }
median () {
    tr ' ' '\n' | awk 'NF' | sort -g | awk '{ a [NR] = $1 }
        END { if (NR == 0) { print "-"; exit }
              if (NR % 2) print a [(NR + 1) / 2]; else printf "%.2f\n", (a [NR / 2] + a [NR / 2 + 1]) / 2 }'
}
maximum () { tr ' ' '\n' | awk 'NF' | sort -g | tail -n 1; }
record () { echo "$1 $2 $3 $4" >> "$results"; }

# The poller: writes each agent's table as "name state since self" lines
# to DIR/v/ID (an empty file if the agent did not answer).
snap=$work/snap.sh
cat > "$snap" <<'EOF'
#!/bin/sh
bin=$1; dir=$2; shift 2
for id; do
    "$bin" members --json --data "$dir/$id" 2>>"$dir/poll.err" | awk '
        /^    "name": /  { v = $0; sub (/^    "name": "/, "", v);  sub (/",?$/, "", v); name = v }
        /^    "state": / { v = $0; sub (/^    "state": "/, "", v); sub (/",?$/, "", v); state = v }
        /^    "since": / { v = $0; sub (/^    "since": /, "", v);  sub (/,$/, "", v);   since = v }
        /^    "self": /  { self = ($0 ~ /true/) ? 1 : 0 }
        /^  }/           { print name, state, (since == "" ? "-" : since), self
                           name = state = since = ""; self = 0 }' > "$dir/v/$id.tmp"
    mv "$dir/v/$id.tmp" "$dir/v/$id"
done
EOF
chmod +x "$snap"

# poll DIR ID...: snapshots of these agents, poll_jobs at a time
poll () {
    local d=$1 per
    shift
    [ $# -gt 0 ] || return 0
    per=$(( ($# + poll_jobs - 1) / poll_jobs ))
    [ $per -le 4 ] || per=4
    printf '%s\n' "$@" | xargs -n "$per" -P "$poll_jobs" "$snap" "$testmesh" "$d"
}

# ------------------------------------------------------------ a cluster
# start_cluster DIR N: agent 1, its token, then 2..N at once; sets
# t_last (wall time just before starting agent N)
start_cluster () {
    local d=$1 n=$2 token until i
    mkdir -p "$d/v"
    agent_pids=""
    : > "$d/pids"
    mkdir -p "$d/1"
    "$testmesh" agent --data "$d/1" --bind "$(bind_of 1)" --no-beacon --profile "$profile" \
        --name a1 > "$d/1.log" 2>&1 &
    agent_pids=$!; echo "1 $!" >> "$d/pids"
    token=""
    until=$(fafter "$(now)" 10)
    while [ -z "$token" ] && ! past "$until"; do
        token=$(sed -n 's/^join token: //p' "$d/1.log" 2>/dev/null)
        [ -n "$token" ] || sleep 0.05
    done
    [ -n "$token" ] || { cat "$d/1.log" >&2; fail "agent 1 printed no join token"; }
    i=2
    while [ $i -le "$n" ]; do
        mkdir -p "$d/$i"
        [ $i -eq "$n" ] && t_last=$(now)
        "$testmesh" agent --data "$d/$i" --bind "$(bind_of $i)" --no-beacon --profile "$profile" \
            --name "a$i" --join "$token" --join-timeout 300 > "$d/$i.log" 2>&1 &
        agent_pids="$agent_pids $!"; echo "$i $!" >> "$d/pids"
        [ "$stagger" -eq 0 ] || sleep "$(awk -v m="$stagger" 'BEGIN { print m / 1000 }')"
        i=$((i + 1))
    done
}

# bind_of I: the address agent I binds (port 0: any free one)
bind_of () {
    if [ "$addresses" = own ]; then
        [ "$1" -le 250 ] || fail "--addresses own gives at most 250 agents"
        printf '127.0.1.%d:0' "$1"
    else
        printf '127.0.0.1:0'
    fi
}

pid_of () { awk -v i="$2" '$1 == i { print $2 }' "$1/pids"; }

stop_agents () {
    local pid t left
    [ -n "$agent_pids" ] || return 0
    for pid in $agent_pids; do kill -CONT "$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null; done
    t=0
    while [ $t -lt 50 ]; do
        left=""
        for pid in $agent_pids; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
        [ -z "$left" ] && break
        sleep 0.1; t=$((t + 1))
    done
    for pid in $agent_pids; do kill -KILL "$pid" 2>/dev/null; done
    for pid in $agent_pids; do wait "$pid" 2>/dev/null; done
    agent_pids=""
}

# logged_pending DIR N: the agents whose log does not yet say that all
# N - 1 others are alive (the last event logged for each is joined,
# alive or updated)
logged_pending () {
    (cd "$1" && awk -v n="$2" '
        function flush () {
            if (file == "") return
            c = 0
            for (m in st) if (st [m] == "joined" || st [m] == "alive" || st [m] == "updated") c++
            if (c < n - 1) { f = file; sub (/\.log$/, "", f); printf "%s ", f }
        }
        FNR == 1 { flush (); file = FILENAME; for (m in st) delete st [m] }
        / gossip: member \047[^\047]*\047 \([^)]*\) [a-z]+$/ {
            m = $0; sub (/^.* gossip: member \047/, "", m); sub (/\047.*$/, "", m)
            st [m] = $NF
        }
        END { flush () }' $(seq 1 "$2" | sed 's/$/.log/'))
}

# converge DIR N DEADLINE_S: waits until every agent sees N alive; prints
# "converge_wall admit_wall" (latest alive since over all views, latest
# self since), or returns 1 at the deadline.
#
# While the cluster forms, agents are busy, and an agent whose gossip
# actor takes over 5 s to answer a control call leaves the cluster when
# the late answer comes (node/tm_agent.c takes any unasked message from
# the actor for FAILED; see docs/benchmarks.md): so we first follow the
# agents' logs, which costs them nothing, and ask their tables (members
# --json) only once the logs say every agent sees everyone.
converge () {
    local d=$1 n=$2 pending until
    until=$(fafter "$(now)" "$3")
    if [ "$formation_poll" = logs ]; then
        while [ -n "$(logged_pending "$d" "$n")" ]; do
            past "$until" && return 1
            sleep 0.5
        done
    fi
    pending=$(seq 1 "$n" | tr '\n' ' ')
    while :; do
        poll "$d" $pending
        pending=$(cd "$d/v" && awk -v n="$n" '$2 == "alive" { c [FILENAME]++ }
                  END { for (f in c) if (c [f] == n) print f }' $pending 2>/dev/null |
                  sort -n | awk -v all="$pending" '
                  { done [$1] = 1 } END { k = split (all, a, " ");
                    for (i = 1; i <= k; i++) if (!(a [i] in done)) printf "%s ", a [i] }')
        [ -z "$pending" ] && break
        past "$until" && return 1
        # The figure comes from the tables' "since", not from when we
        # looked: a big cluster is polled less often, to load it less
        if [ "$n" -lt 50 ]; then sleep 0.2; else sleep 1; fi
    done
    (cd "$d/v" && cat $(seq 1 "$n")) | awk '
        $2 == "alive" && $3 != "-" && $3 > c { c = $3 }
        $4 == 1 && $3 != "-" && $3 > a { a = $3 }
        END { printf "%.6f %.6f\n", c, a }'
}

# watch_state DIR VICTIM STATE AFTER DEADLINE_S OBSERVER...: polls the
# observers until each gives VICTIM state STATE with since > AFTER; prints
# "max_since median_since" of those entries, or returns 1 at the deadline
watch_state () {
    local d=$1 victim=a$2 want=$3 after=$4 secs=$5 pending until mx md
    shift 5
    pending="$*"
    : > "$d/seen"
    until=$(fafter "$(now)" "$secs")
    while :; do
        poll "$d" $pending
        (cd "$d/v" && awk -v v="$victim" -v w="$want" -v a="$after" \
            '$1 == v && $2 == w && $3 != "-" && $3 > a { print FILENAME, $3 }' $pending) >> "$d/seen"
        pending=$(awk -v all="$pending" '{ done [$1] = 1 } END { k = split (all, a, " ");
                  for (i = 1; i <= k; i++) if (!(a [i] in done)) printf "%s ", a [i] }' "$d/seen")
        [ -z "$pending" ] && break
        past "$until" && return 1
        sleep 0.1
    done
    mx=$(awk '{ print $2 }' "$d/seen" | maximum)
    md=$(awk '{ print $2 }' "$d/seen" | median)
    echo "$mx $md"
}

# idle DIR: CPU % (over 10 s) and RSS (MB) of every agent: "cpu_med cpu_max rss_med rss_max"
idle () {
    local d=$1 hz pid t0 span cpu
    hz=$(getconf CLK_TCK)
    for pid in $agent_pids; do
        awk '{ sub (/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || echo x
    done > "$d/cpu0"
    t0=$(now)
    sleep 10
    for pid in $agent_pids; do
        awk '{ sub (/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || echo x
    done > "$d/cpu1"
    span=$(fsub "$(now)" "$t0")
    for pid in $agent_pids; do
        awk '/^VmRSS:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null
    done > "$d/rss"
    cpu=$(paste "$d/cpu0" "$d/cpu1" | awk -v hz="$hz" -v s="$span" \
          '$1 != "x" && $2 != "x" { printf "%.2f ", ($2 - $1) / hz / s * 100 }')
    printf '%s %s %s %s\n' "$(echo $cpu | median)" "$(echo $cpu | maximum)" \
        "$(cat "$d/rss" | median)" "$(cat "$d/rss" | maximum)"
}

pick_victim () {   # pick_victim N EXCLUDE: a random agent of 2..N, not EXCLUDE
    awk -v n="$1" -v x="$2" -v s="$(date +%N)" 'BEGIN { srand (s)
        do v = 2 + int (rand () * (n - 1)); while (v == x); print v }'
}

others () {        # others N ID...: 1..N without the IDs
    local n=$1
    shift
    seq 1 "$n" | awk -v x=" $* " 'index (x, " " $1 " ") == 0' | tr '\n' ' '
}

# cpu_total: CPU seconds (user + system) used by the cluster's agents so far
cpu_total () {
    local pid hz
    hz=$(getconf CLK_TCK)
    for pid in $agent_pids; do
        awk '{ sub (/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null
    done | awk -v hz="$hz" '{ t += $1 } END { printf "%.1f", t / hz }'
}

# health DIR N [KILLED]: what went wrong, if anything: agents that saw
# all N alive at the last poll (unless KILLED: we killed one), agents that
# exited (besides the one we killed), that logged leaving or giving up a
# SWIM join, and control calls that failed
health () {
    local d=$1 n=$2 killed=${3:-0} conv gone pid
    gone=0
    for pid in $agent_pids; do kill -0 "$pid" 2>/dev/null || gone=$((gone + 1)); done
    if [ "$killed" -eq 0 ] && [ "$formation_poll" = logs ]; then
        conv=$(logged_pending "$d" "$n" | wc -w)
        printf '%s of %s logged seeing all alive, ' "$((n - conv))" "$n"
    elif [ "$killed" -eq 0 ]; then
        conv=$(cd "$d/v" 2>/dev/null && awk -v n="$n" '$2 == "alive" { c [FILENAME]++ }
               END { for (f in c) if (c [f] == n) k++; print k + 0 }' $(seq 1 "$n") 2>/dev/null)
        printf '%s of %s saw all alive at the last poll, ' "${conv:-0}" "$n"
    fi
    printf '%s exited unasked, %s logged "left the cluster", ' \
        "$((gone - killed))" "$(grep -l 'left the cluster' "$d"/*.log 2>/dev/null | wc -l)"
    printf '%s logged "giving up joining", %s control calls failed ("did not answer": %s)' \
        "$(grep -l 'giving up joining' "$d"/*.log 2>/dev/null | wc -l)" \
        "$(cat "$d/poll.err" 2>/dev/null | grep -c .)" \
        "$(cat "$d/poll.err" 2>/dev/null | grep -c 'did not answer')"
}

# ------------------------------------------------------------ per size
run_size () {
    local n=$1 rep=$2 d=$work/n$1-r$2 cw conv admit trial v k pid obs t0 t1 r
    say "N=$n rep $rep: starting $n agents"
    start_cluster "$d" "$n"
    if ! cw=$(converge "$d" "$n" "$conv_timeout"); then
        record "$n" "$rep" converge_failed 1
        record "$n" "$rep" form_cpu "$(cpu_total)"
        say "N=$n rep $rep: did not converge within $conv_timeout s; $(health "$d" "$n")"
        stop_agents
        return
    fi
    set -- $cw
    conv=$(fsub "$1" "$t_last"); admit=$(fsub "$2" "$t_last")
    record "$n" "$rep" converge "$conv"; record "$n" "$rep" admit "$admit"
    record "$n" "$rep" form_cpu "$(cpu_total)"
    say "N=$n rep $rep: last admitted +$admit s, converged +$conv s; agents used $(cpu_total) CPU s so far"

    sleep 2
    set -- $(idle "$d")
    record "$n" "$rep" cpu_med "$1"; record "$n" "$rep" cpu_max "$2"
    record "$n" "$rep" rss_med "$3"; record "$n" "$rep" rss_max "$4"
    say "N=$n rep $rep: idle CPU median $1 % max $2 %, RSS median $3 MB max $4 MB"

    trial=1
    while [ $trial -le "$stop_trials" ]; do
        v=$(pick_victim "$n" 0); pid=$(pid_of "$d" "$v")
        obs=$(others "$n" "$v")
        t0=$(now); kill -STOP "$pid"
        if r=$(watch_state "$d" "$v" dead "$t0" 60 $obs); then
            set -- $r
            record "$n" "$rep" stop_dead "$(fsub "$1" "$t0")"
            say "N=$n rep $rep: SIGSTOP a$v: dead everywhere +$(fsub "$1" "$t0") s (median observer +$(fsub "$2" "$t0") s)"
        else
            record "$n" "$rep" stop_dead_failed 1
            say "N=$n rep $rep: SIGSTOP a$v: not dead everywhere within 60 s"
        fi
        t1=$(now); kill -CONT "$pid"
        if r=$(watch_state "$d" "$v" alive "$t1" 60 $obs); then
            set -- $r
            record "$n" "$rep" cont_alive "$(fsub "$1" "$t1")"
            say "N=$n rep $rep: SIGCONT a$v: alive everywhere +$(fsub "$1" "$t1") s"
        else
            record "$n" "$rep" cont_alive_failed 1
            say "N=$n rep $rep: SIGCONT a$v: not alive everywhere within 60 s"
        fi
        trial=$((trial + 1))
    done

    k=$(pick_victim "$n" 0); pid=$(pid_of "$d" "$k")
    obs=$(others "$n" "$k")
    t0=$(now); kill -KILL "$pid"
    if r=$(watch_state "$d" "$k" dead "$t0" 60 $obs); then
        set -- $r
        record "$n" "$rep" kill_dead "$(fsub "$1" "$t0")"
        say "N=$n rep $rep: SIGKILL a$k: dead everywhere +$(fsub "$1" "$t0") s (median observer +$(fsub "$2" "$t0") s)"
    else
        record "$n" "$rep" kill_dead_failed 1
        say "N=$n rep $rep: SIGKILL a$k: not dead everywhere within 60 s"
    fi
    say "N=$n rep $rep: at the end: $(health "$d" "$n" 1)"
    stop_agents
    $keep || rm -rf "$d"
}

# ------------------------------------------------------------ CPU hog
run_hog () {
    local n=$1 d=$work/hog all pf0 pf1 aw c samples t_end next i pos id pid
    local dead_sampled suspect_sampled dead_logged dead_members suspect_logged
    say "hog: starting $n agents"
    start_cluster "$d" "$n"
    if ! converge "$d" "$n" "$conv_timeout" > /dev/null; then
        say "hog: did not converge within $conv_timeout s; $(health "$d" "$n")"
        record hog "$n" converge_failed 1
        stop_agents
        return 1
    fi
    all=$(seq 1 "$n" | tr '\n' ' ')
    stats_sum () {    # stats_sum DIR: "probes_failed_sum awareness_max"
        for id in $all; do
            "$testmesh" stats --data "$1/$id" 2>/dev/null | tr -d ' ,' |
                awk -F: '/"probes_failed"/ { p = $2 } /"awareness"/ { a = $2 } END { print p + 0, a + 0 }'
        done | awk '{ p += $1; if ($2 > a) a = $2 } END { print p + 0, a + 0 }'
    }
    set -- $(stats_sum "$d"); pf0=$1
    for id in $all; do wc -c < "$d/$id.log"; done > "$d/logpos"
    say "hog: converged; $cores busy loops for $hog_secs s, sampling every 0.5 s"
    hog_pids=""
    c=0
    while [ $c -lt "$cores" ]; do
        sh -c 'while :; do :; done' & hog_pids="$hog_pids $!"
        c=$((c + 1))
    done
    : > "$d/bad"
    samples=0
    t_end=$(fafter "$(now)" "$hog_secs")
    while ! past "$t_end"; do
        next=$(fafter "$(now)" 0.5)
        poll "$d" $all
        samples=$((samples + 1))
        (cd "$d/v" && awk -v s=$samples '$2 == "dead" || $2 == "suspect" { print s, FILENAME, $1, $2 }' $all) >> "$d/bad"
        while ! past "$next"; do sleep 0.05; done
    done
    set -- $(stats_sum "$d"); pf1=$1; aw=$2
    say "hog: at the end: $(health "$d" "$n")"
    for pid in $hog_pids; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    hog_pids=""
    dead_sampled=$(awk '$4 == "dead" { print $3 }' "$d/bad" | sort -u | wc -l)
    suspect_sampled=$(awk '$4 == "suspect" { print $3 }' "$d/bad" | sort -u | wc -l)
    i=0; dead_logged=0; suspect_logged=0
    : > "$d/events"
    for id in $all; do
        i=$((i + 1))
        pos=$(sed -n "${i}p" "$d/logpos")
        tail -c +$((pos + 1)) "$d/$id.log" | grep -E "member '[^']*' \([^)]*\) (dead|suspect)$" >> "$d/events"
    done
    dead_logged=$(grep -c ' dead$' "$d/events")
    dead_members=$(grep ' dead$' "$d/events" | sed "s/.*member '\([^']*\)'.*/\1/" | sort -u | wc -l)
    suspect_logged=$(grep -c ' suspect$' "$d/events")
    record hog "$n" samples "$samples"
    record hog "$n" dead_sampled "$dead_sampled"
    record hog "$n" suspect_sampled "$suspect_sampled"
    record hog "$n" dead_logged "$dead_logged"
    record hog "$n" dead_members "$dead_members"
    record hog "$n" suspect_logged "$suspect_logged"
    record hog "$n" probes_failed "$((pf1 - pf0))"
    record hog "$n" awareness_max "$aw"
    stop_agents
}

# ------------------------------------------------------------ main
load0=$(cut -d' ' -f1-3 /proc/loadavg)
say "profile $profile, sizes $sizes, $cores cores, poll $poll_jobs at a time, stagger ${stagger} ms, addresses $addresses, load average $load0"
started=$(now)
for n in $sizes; do
    r=$reps
    [ -n "$r" ] || { [ "$n" -le 50 ] && r=3 || r=1; }
    rep=1
    while [ $rep -le "$r" ]; do
        run_size "$n" "$rep"
        rep=$((rep + 1))
    done
done
[ "$hog_n" -eq 0 ] || run_hog "$hog_n"

# ------------------------------------------------------------ report
get () {   # get N METRIC: values over repetitions
    awk -v n="$1" -v m="$2" '$1 == n && $3 == m { print $4 }' "$results" | tr '\n' ' '
}
echo
echo "Gossip scale: profile $profile, loopback (addresses $addresses), $cores cores ($(uname -r)), $(date -u +%Y-%m-%d)"
echo "times in s from the event (median over repetitions; [max] over every trial);"
echo "form CPU: CPU s all agents used from start to convergence (or to giving up)"
printf '%5s %4s %8s %9s %8s %14s %14s %14s %17s %15s\n' \
    N reps admit converge 'form CPU' 'kill->dead' 'stop->dead' 'cont->alive' 'idle CPU% med/max' 'RSS MB med/max'
for n in $sizes; do
    r=$(awk -v n="$n" '$1 == n && ($3 == "converge" || $3 == "converge_failed") { c++ } END { print c + 0 }' "$results")
    conv_failed=$(get "$n" converge_failed | wc -w)
    stop_failed=$(get "$n" stop_dead_failed | wc -w)
    cont_failed=$(get "$n" cont_alive_failed | wc -w)
    kill_failed=$(get "$n" kill_dead_failed | wc -w)
    f () { v=$(get "$n" "$1" | median); [ "$2" -eq 0 ] || v="$v(${2}fail)"; echo "$v"; }
    printf '%5s %4s %8s %9s %8s %6s [%5s] %6s [%5s] %6s [%5s] %8s/%-8s %7s/%-7s\n' \
        "$n" "$r" "$(get "$n" admit | median)" "$(f converge "$conv_failed")" \
        "$(get "$n" form_cpu | median)" \
        "$(f kill_dead "$kill_failed")" "$(get "$n" kill_dead | maximum)" \
        "$(f stop_dead "$stop_failed")" "$(get "$n" stop_dead | maximum)" \
        "$(f cont_alive "$cont_failed")" "$(get "$n" cont_alive | maximum)" \
        "$(get "$n" cpu_med | median)" "$(get "$n" cpu_max | maximum)" \
        "$(get "$n" rss_med | median)" "$(get "$n" rss_max | maximum)"
done
if [ "$hog_n" -ne 0 ]; then
    h () { awk -v m="$1" '$1 == "hog" && $3 == m { print $4 }' "$results"; }
    echo
    if [ -n "$(h converge_failed)" ]; then
        echo "CPU hog: N=$hog_n: the cluster did not converge within $conv_timeout s, not measured"
    else
    echo "CPU hog: N=$hog_n, $cores busy loops, $hog_secs s, $(h samples) samples of every table"
    echo "  members seen dead by some agent (sampled):     $(h dead_sampled)"
    echo "  members seen suspect by some agent (sampled):  $(h suspect_sampled)"
    echo "  'dead' events logged (distinct members):       $(h dead_logged) ($(h dead_members))"
    echo "  'suspect' events logged:                       $(h suspect_logged)"
    echo "  probes_failed, growth summed over agents:      $(h probes_failed)"
    echo "  highest awareness at the end:                  $(h awareness_max)"
    fi
fi
echo
echo "targets: kill->dead < 1 s; stop->dead < 5 s p99; no false dead under the hog;"
echo "         idle CPU < 0.5 % and RSS < 30 MB per agent"
echo "took $(fsub "$(now)" "$started") s; load average before $load0, after $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(the load average counts everything on the machine, not only these agents)"
