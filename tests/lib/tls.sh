# shellcheck shell=bash disable=SC2034  # (variables are for the sourcing test)
# tests/lib/tls.sh - throwaway PKI for canopy's integration tests (openssl).
#
# Source it (bash only; needs openssl and GNU date).  All keys are EC P-256
# (fast), written with umask 077 (mode 0600); all certificates are SHA-256,
# PEM.  Every file lands in the directory you pass; nothing else is touched
# (the system openssl.cnf is not read: each step writes its own config).
#
# One-call setups (they set the TLS_* variables listed below):
#   tls_setup DIR        test CA "ca", server cert "server" (127.0.0.1, ::1,
#                        localhost) and an unrelated CA "wrong-ca"
#   tls_setup_all DIR    tls_setup + "expired" and "wrong-host" server certs
#                        (signed by "ca"), client CA "client-ca" and client
#                        cert "client" (signed by "client-ca", for mTLS)
#
# Building blocks (NAME -> DIR/NAME.key and DIR/NAME.pem):
#   tls_ca DIR NAME [CN]                       self-signed CA
#   tls_server_cert DIR NAME CA [SAN]          server cert signed by DIR/CA;
#                                              SAN default TLS_SAN_LOCAL
#   tls_expired_server_cert DIR NAME CA [SAN]  valid 2 days ago .. 1 day ago
#   tls_not_yet_valid_server_cert DIR NAME CA [SAN]  valid from tomorrow
#   tls_wrong_host_server_cert DIR NAME CA     SAN/CN wrong-host.invalid only
#   tls_client_cert DIR NAME CA [CN]           clientAuth cert
#   tls_cert DIR NAME CA KIND CN SAN [START END]
#                                              the general form: KIND server
#                                              or client, SAN "" for none,
#                                              START/END as YYYYMMDDHHMMSSZ
#                                              (default: 1 h ago .. +30 days)
#
# Variables set by tls_setup / tls_setup_all (absolute paths):
#   TLS_DIR TLS_CA TLS_CA_KEY TLS_SERVER_CERT TLS_SERVER_KEY TLS_WRONG_CA
#   and, from tls_setup_all: TLS_EXPIRED_CERT TLS_EXPIRED_KEY
#   TLS_WRONG_HOST_CERT TLS_WRONG_HOST_KEY TLS_CLIENT_CA TLS_CLIENT_CERT
#   TLS_CLIENT_KEY
# Every function returns non-zero (after printing openssl's output to
# stderr) on failure.

[[ -n "${_CANOPY_TLS_SH:-}" ]] && return 0
_CANOPY_TLS_SH=1

TLS_SAN_LOCAL=${TLS_SAN_LOCAL:-"IP:127.0.0.1,IP:::1,DNS:localhost"}
TLS_DAYS=${TLS_DAYS:-30}

# _tls_date OFFSET_SECONDS -> YYYYMMDDHHMMSSZ (UTC)
_tls_date() {
  date -u -d "@$(($(date +%s) + $1))" +%Y%m%d%H%M%SZ
}

# _tls_run LOG CMD... : run CMD with output to LOG; on failure show LOG.
_tls_run() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    printf 'tls.sh: command failed: %s\n' "$*" >&2
    cat "$log" >&2
    return 1
  fi
}

_tls_abs() {
  mkdir -p -- "$1" && (cd -- "$1" && pwd)
}

_tls_key() {
  (umask 077 && _tls_run "$1.log" openssl genpkey -algorithm EC \
    -pkeyopt ec_paramgen_curve:P-256 -out "$1") || return 1
  chmod 600 "$1"
  rm -f -- "$1.log"
}

# _tls_ca_db DIR CA : the openssl-ca work area for DIR/CA (created on demand)
_tls_ca_db() {
  local db="$1/.$2.ca"
  if [[ ! -d "$db" ]]; then
    mkdir -p -- "$db/new" || return 1
    : >"$db/index.txt"
    printf 'unique_subject = no\n' >"$db/index.txt.attr"
    openssl rand -hex 8 | tr 'a-f' 'A-F' >"$db/serial"
  fi
  printf '%s\n' "$db"
}

# _tls_conf DB CN EXTSECTION_BODY : write DB/req.cnf and DB/ext.cnf
_tls_conf() {
  local db=$1 cn=$2 ext=$3
  cat >"$db/ca.cnf" <<EOF
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = $db
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
preserve = no
[ policy_any ]
commonName = supplied
[ req ]
distinguished_name = req_dn
prompt = no
utf8 = yes
[ req_dn ]
CN = $cn
EOF
  printf '[ ext ]\n%s\n' "$ext" >"$db/ext.cnf"
}

# _tls_sign DIR NAME CA CN EXT START END [selfsign]
_tls_sign() {
  local dir=$1 name=$2 ca=$3 cn=$4 ext=$5 start=$6 end=$7 self=${8:-}
  local db
  db=$(_tls_ca_db "$dir" "$ca") || return 1
  _tls_conf "$db" "$cn" "$ext" || return 1
  _tls_key "$dir/$name.key" || return 1
  _tls_run "$db/req.log" openssl req -new -config "$db/ca.cnf" \
    -key "$dir/$name.key" -out "$db/$name.csr" || return 1
  local signer=(-cert "$dir/$ca.pem" -keyfile "$dir/$ca.key")
  [[ -n "$self" ]] && signer=(-selfsign -keyfile "$dir/$ca.key")
  _tls_run "$db/ca.log" openssl ca -batch -notext -config "$db/ca.cnf" \
    "${signer[@]}" -in "$db/$name.csr" -out "$dir/$name.pem" \
    -startdate "$start" -enddate "$end" \
    -extfile "$db/ext.cnf" -extensions ext || return 1
  chmod 644 "$dir/$name.pem"
}

tls_ca() {
  local dir name=$2 cn=${3:-"canopy test CA $2"}
  dir=$(_tls_abs "$1") || return 1
  _tls_sign "$dir" "$name" "$name" "$cn" \
    "basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash" \
    "$(_tls_date -3600)" "$(_tls_date $(((TLS_DAYS + 1) * 86400)))" selfsign
}

tls_cert() {
  local dir name=$2 ca=$3 kind=$4 cn=$5 san=$6
  local start=${7:-$(_tls_date -3600)} end=${8:-$(_tls_date $((TLS_DAYS * 86400)))}
  local eku ext
  dir=$(_tls_abs "$1") || return 1
  case $kind in
    server) eku=serverAuth ;;
    client) eku=clientAuth ;;
    *) printf 'tls_cert: KIND must be server or client, not %s\n' "$kind" >&2; return 1 ;;
  esac
  if [[ ! -f "$dir/$ca.pem" || ! -f "$dir/$ca.key" ]]; then
    printf 'tls_cert: no CA %s in %s (run tls_ca first)\n' "$ca" "$dir" >&2
    return 1
  fi
  ext="basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = $eku
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid"
  [[ -n "$san" ]] && ext+=$'\n'"subjectAltName = $san"
  _tls_sign "$dir" "$name" "$ca" "$cn" "$ext" "$start" "$end"
}

tls_server_cert() {
  tls_cert "$1" "$2" "$3" server localhost "${4:-$TLS_SAN_LOCAL}"
}

tls_expired_server_cert() {
  tls_cert "$1" "$2" "$3" server localhost "${4:-$TLS_SAN_LOCAL}" \
    "$(_tls_date -172800)" "$(_tls_date -86400)"
}

tls_not_yet_valid_server_cert() {
  tls_cert "$1" "$2" "$3" server localhost "${4:-$TLS_SAN_LOCAL}" \
    "$(_tls_date 86400)" "$(_tls_date $((TLS_DAYS * 86400)))"
}

tls_wrong_host_server_cert() {
  tls_cert "$1" "$2" "$3" server wrong-host.invalid "DNS:wrong-host.invalid"
}

tls_client_cert() {
  tls_cert "$1" "$2" "$3" client "${4:-canopy-test-client}" ""
}

tls_setup() {
  local dir
  dir=$(_tls_abs "$1") || return 1
  tls_ca "$dir" ca &&
    tls_server_cert "$dir" server ca &&
    tls_ca "$dir" wrong-ca "canopy unrelated CA" || return 1
  TLS_DIR=$dir
  TLS_CA=$dir/ca.pem
  TLS_CA_KEY=$dir/ca.key
  TLS_SERVER_CERT=$dir/server.pem
  TLS_SERVER_KEY=$dir/server.key
  TLS_WRONG_CA=$dir/wrong-ca.pem
}

tls_setup_all() {
  tls_setup "$1" || return 1
  local dir=$TLS_DIR
  tls_expired_server_cert "$dir" expired ca &&
    tls_wrong_host_server_cert "$dir" wrong-host ca &&
    tls_ca "$dir" client-ca "canopy test client CA" &&
    tls_client_cert "$dir" client client-ca || return 1
  TLS_EXPIRED_CERT=$dir/expired.pem
  TLS_EXPIRED_KEY=$dir/expired.key
  TLS_WRONG_HOST_CERT=$dir/wrong-host.pem
  TLS_WRONG_HOST_KEY=$dir/wrong-host.key
  TLS_CLIENT_CA=$dir/client-ca.pem
  TLS_CLIENT_CERT=$dir/client.pem
  TLS_CLIENT_KEY=$dir/client.key
}
