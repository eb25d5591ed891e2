# shellcheck shell=bash
# tests/lib/common.sh - small helpers shared by canopy's shell tests.
#
# Source it (bash only); it is safe under `set -euo pipefail` and safe to
# source more than once.  Exit-code convention: 0 pass, 1 fail, 77 skip
# (ctest: SKIP_RETURN_CODE 77).
#
#   t_pass MSG / t_fail MSG    print "PASS: MSG" / "FAIL: MSG" (t_fail counts)
#   t_skip MSG                 print "SKIP: MSG" and exit 77
#   t_die MSG                  print "FAIL: MSG" and exit 1
#   t_info MSG                 print "INFO: MSG"
#   t_finish                   print the verdict; exit 0 or 1
#   t_on_exit CMD...           run CMD (a shell string, eval'd) at exit, in
#                              reverse order of registration; the first call
#                              installs the EXIT/INT/TERM/HUP traps, so do not
#                              set your own EXIT trap after using it
#   t_mktemp_dir VAR [TAG]     mktemp -d into variable VAR, removed at exit
#                              (kept with CANOPY_TEST_KEEP=1); not in $(...):
#                              the exit hook must be set in this shell
#   t_free_port                print a currently free TCP port on 127.0.0.1
#   t_wait_until N DELAY CMD.. run CMD up to N times, DELAY s apart; 0 once
#                              it succeeds, 1 if it never did
#   t_pid_alive PID            0 if PID exists and is not a zombie
#   t_wait_pid_exit PID TENTHS wait up to TENTHS/10 s for PID to die (or
#                              become a zombie); does not reap it: the caller
#                              `wait`s for its own children (exit status)
#   t_children PID             print the pids whose parent is PID
#   t_require_bins VAR...      each VAR must name an existing file (the
#                              binaries under test); else FAIL, exit 2
#   t_expect NAME STATUS PATTERN -- CMD...
#                              run CMD; pass if it exits STATUS and its
#                              stdout+stderr matches the extended regex

[[ -n "${_CANOPY_COMMON_SH:-}" ]] && return 0
_CANOPY_COMMON_SH=1

T_FAILURES=0
_T_CLEANUPS=()
_T_TRAPS_SET=0
_T_REPORTED=0

t_info() { printf 'INFO: %s\n' "$*"; }
t_pass() { printf 'PASS: %s\n' "$*"; }
t_fail() {
  printf 'FAIL: %s\n' "$*"
  T_FAILURES=$((T_FAILURES + 1))
}
t_skip() {
  _T_REPORTED=1
  printf 'SKIP: %s\n' "$*"
  exit 77
}
t_die() {
  _T_REPORTED=1
  printf 'FAIL: %s\n' "$*"
  exit 1
}

t_finish() {
  _T_REPORTED=1
  if ((T_FAILURES == 0)); then
    printf 'PASS: %s\n' "${1:-all checks passed}"
    exit 0
  fi
  printf 'FAIL: %d check(s) failed\n' "$T_FAILURES"
  exit 1
}

_t_run_cleanups() {
  local rc=$? i
  if ((rc != 0 && _T_REPORTED == 0)); then
    if ((rc > 128)); then
      printf 'FAIL: interrupted (exit status %d)\n' "$rc"
    else
      printf 'FAIL: aborted by an unexpected error (exit status %d)\n' "$rc"
    fi
  fi
  for ((i = ${#_T_CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${_T_CLEANUPS[i]}" || true
  done
  _T_CLEANUPS=()
}

t_on_exit() {
  _T_CLEANUPS+=("$*")
  if ((_T_TRAPS_SET == 0)); then
    _T_TRAPS_SET=1
    trap '_t_run_cleanups' EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
  fi
}

t_mktemp_dir() {
  local _t_d
  _t_d=$(mktemp -d "${TMPDIR:-/tmp}/canopy-${2:-test}.XXXXXX") || return 1
  if [[ "${CANOPY_TEST_KEEP:-0}" == 1 ]]; then
    t_on_exit "printf 'INFO: kept %s\\n' $(printf '%q' "$_t_d")"
  else
    t_on_exit "rm -rf -- $(printf '%q' "$_t_d")"
  fi
  printf -v "$1" '%s' "$_t_d"
}

t_free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 - <<'PY' && return 0
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
  fi
  # Fallback: a random high port nobody answers on (bind may still race;
  # callers retry).
  local i port
  for ((i = 0; i < 50; i++)); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  return 1
}

t_wait_until() {
  local tries=$1 delay=$2 i
  shift 2
  for ((i = 0; i < tries; i++)); do
    if "$@"; then return 0; fi
    sleep "$delay"
  done
  return 1
}

t_pid_alive() {
  local stat
  [[ -n "${1:-}" ]] || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ "${stat%% *}" != Z && "${stat%% *}" != X ]]
}

t_wait_pid_exit() {
  local pid=$1 tenths=$2 i
  for ((i = 0; i < tenths; i++)); do
    t_pid_alive "$pid" || break
    sleep 0.1
  done
  ! t_pid_alive "$pid"
}

# t_require_trace: sets data (CANOPY_DATA, default ../shared/data beside
# the repository; $repo must be set) and trace (CANOPY_TEST_TRACE, a name
# under data/traces or a path; default honda_civic_type_r_2019.log); skips
# the test when either is missing.
t_require_trace() {
  data=${CANOPY_DATA:-$repo/../shared/data}
  [[ -d "$data" ]] || t_skip "data folder $data not found (set CANOPY_DATA)"
  data=$(cd -- "$data" && pwd)
  trace=${CANOPY_TEST_TRACE:-honda_civic_type_r_2019.log}
  [[ "$trace" == */* ]] || trace=$data/traces/$trace
  [[ -f "$trace" ]] || t_skip "trace $trace not found"
}

# t_stop_pid PID: SIGTERM, up to 5 s to exit, then SIGKILL; reaps it when
# it is this shell's child. Nothing happens for an empty or dead PID.
t_stop_pid() {
  if [[ -n "${1:-}" ]] && t_pid_alive "$1"; then
    kill -TERM "$1" 2>/dev/null || true
    t_wait_pid_exit "$1" 50 || kill -KILL "$1" 2>/dev/null || true
  fi
  [[ -z "${1:-}" ]] || wait "$1" 2>/dev/null || true
}

t_children() {
  local f stat rest
  for f in /proc/[0-9]*/stat; do
    stat=$(cat "$f" 2>/dev/null) || continue
    rest=${stat##*) }      # "S PPID ..."
    rest=${rest#* }        # "PPID ..."
    if [[ "${rest%% *}" == "$1" ]]; then
      f=${f#/proc/}
      printf '%s\n' "${f%/stat}"
    fi
  done
}

t_expect() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  if [[ $rc -ne $want ]]; then
    t_fail "$name: exit $rc, wanted $want; output: $(head -c 600 <<<"$out")"
  elif ! grep -Eq -- "$pattern" <<<"$out"; then
    t_fail "$name: output lacks /$pattern/: $(head -c 600 <<<"$out")"
  else
    t_pass "$name"
  fi
}

t_require_bins() {
  local v
  for v in "$@"; do
    if [[ -z "${!v:-}" ]]; then
      printf 'FAIL: %s is not set (path of the binary to test)\n' "$v"
      exit 2
    fi
    if [[ ! -f "${!v}" ]]; then
      printf 'FAIL: %s=%s does not exist\n' "$v" "${!v}"
      exit 2
    fi
  done
}
