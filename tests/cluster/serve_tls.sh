# serve over HTTPS: --tls_cert / --tls_key with a self-signed certificate made here by openssl.
# A client that trusts the certificate gets /health and /score; one that does not is refused by
# its own verification; plain HTTP on the port gets no answer and the server keeps serving. A
# certificate without its key, a key others can read, a key that is not the certificate's and a
# missing file and a key with a passphrase are refused at start (exit 1) naming the flag and
# file. SIGTERM stops it (0).
source "$(dirname "$0")/../cluster_lib.sh" "$@"
command -v openssl >/dev/null || fail "the openssl command (Debian package openssl) makes the test certificate"

"$EMBARK_BIN" gen --kind=ratings --out="$WORK/r" --rows=2000 --seed=3 >/dev/null || fail "gen failed"
"$LOCAL" --servers 1 --workers 1 -- train --model=mf --train="$WORK/r.train.tsv" --dim=4 --epochs=1 \
  --checkpoint_dir="$WORK/ck" --checkpoint_every=1epoch >"$WORK/log" 2>&1 || fail "train exited $?"
"$EMBARK_BIN" export --checkpoint="$WORK/ck" --out="$WORK/b" >"$WORK/log" 2>&1 || fail "export exited $?"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 1 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" >"$WORK/log" 2>&1 || fail "openssl req: $(cat "$WORK/log")"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/other.pem" >"$WORK/log" 2>&1 \
  || fail "openssl genpkey: $(cat "$WORK/log")"
openssl pkey -in "$WORK/key.pem" -aes256 -passout pass:secret -out "$WORK/locked.pem" >"$WORK/log" 2>&1 \
  || fail "openssl pkey: $(cat "$WORK/log")"
chmod 600 "$WORK/key.pem" "$WORK/other.pem" "$WORK/locked.pem"
cp "$WORK/key.pem" "$WORK/open.pem" && chmod 644 "$WORK/open.pem"

refused() {  # TEXT FLAGS...: serve must exit 1 before serving, TEXT in its stderr
  local want="$1" rc
  shift
  timeout 20 "$EMBARK_BIN" serve --bundle="$WORK/b" --port=0 "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  [ "$rc" = 1 ] || fail "serve $* exited $rc, not 1: $(cat "$WORK/err")"
  grep -qF -- "$want" "$WORK/err" || fail "serve $*: '$want' not in: $(cat "$WORK/err")"
}
refused "--tls_cert and --tls_key go together" --tls_cert="$WORK/cert.pem"
refused "--tls_key $WORK/open.pem can be read by other users" --tls_cert="$WORK/cert.pem" --tls_key="$WORK/open.pem"
refused "--tls_cert $WORK/cert.pem and --tls_key $WORK/other.pem are not" --tls_cert="$WORK/cert.pem" --tls_key="$WORK/other.pem"
refused "--tls_cert $WORK/none.pem is missing" --tls_cert="$WORK/none.pem" --tls_key="$WORK/key.pem"
# A key with a passphrase is refused at once (never a prompt that would hang the start).
refused "unencrypted PEM private key" --tls_cert="$WORK/cert.pem" --tls_key="$WORK/locked.pem" </dev/null

start_serve --bundle="$WORK/b" --tls_cert="$WORK/cert.pem" --tls_key="$WORK/key.pem"
case "$url" in https://127.0.0.1:*) ;; *) fail "serve does not announce an https address: $(cat "$WORK/serve.out")" ;; esac
tls() { curl -sS --max-time 20 --cacert "$WORK/cert.pem" "$@"; }
tls "$url/health" | grep -q '"status"' || fail "GET /health over HTTPS failed"
read -r user item _ < "$WORK/r.train.tsv"
tls -H 'Content-Type: application/json' --data-binary "{\"features\": [[0, \"$user\"], [1, \"$item\"]]}" "$url/score" \
  | grep -qE '"scores":\[[0-9.e+-]+\]' || fail "POST /score over HTTPS gave no score"
# The negative controls: the certificate is really checked, and the port speaks only TLS.
# curl's exit codes: 60 = the peer's certificate was not verified; 52 / 56 = nothing or a reset
# came back (not 7 / 28: the port did answer the connection).
curl -sS --max-time 20 "$url/health" >/dev/null 2>&1
rc=$?
[ "$rc" = 60 ] || fail "a client that does not trust the certificate got curl exit $rc, not 60 (certificate not verified)"
curl -sS --max-time 5 "http://${url#https://}/health" >/dev/null 2>&1
rc=$?
[ "$rc" = 52 ] || [ "$rc" = 56 ] || fail "plain HTTP on the HTTPS port got curl exit $rc, not 52/56 (no HTTP answer)"
tls "$url/health" | grep -q '"status"' || fail "serve stopped answering after a plain-HTTP attempt"
kill -TERM "$server"
wait_for_exit "$server" 20
[ "$RC" = 0 ] || fail "serve did not stop cleanly on SIGTERM: $RC"
echo "ok: HTTPS with a trusted certificate answered, an untrusting client and plain HTTP were not, 5 bad set-ups refused"
