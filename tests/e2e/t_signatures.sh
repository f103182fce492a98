#!/bin/sh
# t_signatures.sh — Standard Webhooks signatures of real deliveries, checked
# by an independent verifier (the openssl command line) over the exact bytes
# the receiver got: one whsec_ secret, a rotated list of two (two v1
# signatures, each verifying with its own secret), an Ed25519 whsk_ key (v1a,
# verified by `openssl pkeyutl -verify -rawin` and by bin/zhook-verify), a
# mixed list, ZHOOK_SIGNING_SECRET as the default; a tampered body and a wrong
# key are refused by zhook-verify.
. "$(dirname "$0")/lib.sh"

zh_setup
[ -x "$ZH_BIN/zhook-verify" ] || zh_fail "$ZH_BIN/zhook-verify not built"
command -v openssl >/dev/null || zh_fail "openssl command line not found"
VERIFY=$ZH_BIN/zhook-verify
SAVE=$ZH_TMP/saved
mkdir -p "$SAVE"
ZH_RECEIVER_SAVE_DIR=$SAVE
export ZH_RECEIVER_SAVE_DIR

# --- keys, made by openssl --------------------------------------------------------
S1=whsec_$(openssl rand -base64 32)
S2=whsec_$(openssl rand -base64 24)
DEFAULT=whsec_$(openssl rand -base64 32)
openssl genpkey -algorithm ed25519 -outform DER -out "$ZH_TMP/ed.der" 2>/dev/null ||
    zh_fail "openssl genpkey ed25519"
SK=whsk_$(tail -c 32 "$ZH_TMP/ed.der" | base64 -w0)
OPENSSL_PK=$(openssl pkey -inform DER -in "$ZH_TMP/ed.der" -pubout -outform DER | tail -c 32 | base64 -w0)
PK=$("$VERIFY" --public-key "$SK") || zh_fail "zhook-verify --public-key"
zh_assert_eq "$PK" "whpk_$OPENSSL_PK" "public key derived by zhook-verify vs openssl"
# the whpk_ key as PEM: DER SubjectPublicKeyInfo prefix of Ed25519 + the 32 bytes
{ printf '\060\052\060\005\006\003\053\145\160\003\041\000'; printf '%s' "${PK#whpk_}" | base64 -d; } |
    openssl pkey -pubin -inform DER -outform PEM -out "$ZH_TMP/pk.pem" ||
    zh_fail "cannot convert $PK to PEM"
zh_pass "keys: whsec_ from openssl rand, whsk_/whpk_ from openssl genpkey; --public-key agrees"

ZH_DLV_ENV="ZHOOK_SIGNING_SECRET=$DEFAULT"
zh_start_receiver
zh_start_pipeline a

# urlenc TEXT: percent-encodes what query strings mangle in base64 and lists
urlenc () {
    printf '%s' "$1" | sed 's/%/%25/g; s/+/%2B/g; s/\//%2F/g; s/=/%3D/g; s/ /%20/g'
}

# submit PATH SECRET-OR-EMPTY: POSTs a message to the receiver with save=1
# (and secret= for the receiver's own check when given); sets ZH_ID.
submit () {
    _q="save=1"
    [ -n "$3" ] && _q="$_q&secret=$(urlenc "$3")"
    if [ -n "$2" ]; then
        zh_submit "{\"url\":\"$ZH_RCV/$1?$_q\",\"payload\":{\"path\":\"$1\",\"n\":[1,2.5,\"\\u00e9\"]},\"secret\":\"$2\"}"
    else
        zh_submit "{\"url\":\"$ZH_RCV/$1?$_q\",\"payload\":{\"path\":\"$1\",\"unsigned\":true}}"
    fi
}

submit one "$S1" "$S1"
ONE=$ZH_ID
submit rotated "$S1 $S2" "$S2"
ROT=$ZH_ID
submit ed "$SK" "$PK"
ED=$ZH_ID
submit mixed "$S2 $SK" ""
MIX=$ZH_ID
submit default "" "$DEFAULT"
DEF=$ZH_ID
for id in $ONE $ROT $ED $MIX $DEF; do
    zh_wait_until 5000 "[ \$(zh_rcv_count $id) -ge 1 ]" || zh_fail "message $id never arrived"
    [ -s "$SAVE/$id.1.body" ] && [ -s "$SAVE/$id.1.signature" ] ||
        zh_fail "receiver did not save $id (save=1)"
done

# content ID: the signed bytes "id.timestamp.body" of the first request, in a file
content () {
    _c=$ZH_TMP/$1.content
    { cat "$SAVE/$1.1.id"; printf .; cat "$SAVE/$1.1.timestamp"; printf .; cat "$SAVE/$1.1.body"; } >"$_c"
    echo "$_c"
}

# hmac_b64 SECRET FILE: base64 HMAC-SHA256 keyed by the decoded secret (openssl)
hmac_b64 () {
    _hex=$(printf '%s' "${1#whsec_}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$_hex" -binary "$2" | base64 -w0
}

# sig_field ID K: the Kth space-separated entry of the webhook-signature header
sig_field () {
    tr ' ' '\n' <"$SAVE/$1.1.signature" | sed -n "$2p"
}
sig_count () {
    tr ' ' '\n' <"$SAVE/$1.1.signature" | grep -c .
}

# ed_verify ID SIG(v1a,...): openssl pkeyutl over the content with the PEM key
ed_verify () {
    printf '%s' "${2#v1a,}" | base64 -d >"$ZH_TMP/$1.sig"
    openssl pkeyutl -verify -pubin -inkey "$ZH_TMP/pk.pem" -rawin -in "$(content "$1")" \
        -sigfile "$ZH_TMP/$1.sig" >/dev/null 2>&1
}

# zv KEYS ID [BODYFILE]: zhook-verify on the saved request (keys through the
# environment, as receivers should); prints valid/invalid
zv () {
    ZHOOK_VERIFY_KEYS=$1 "$VERIFY" --id "$(cat "$SAVE/$2.1.id")" \
        --timestamp "$(cat "$SAVE/$2.1.timestamp")" \
        --signature "$(cat "$SAVE/$2.1.signature")" "${3:-$SAVE/$2.1.body}"
}

# --- one whsec_ secret -----------------------------------------------------------------
zh_assert_eq "$(cat "$SAVE/$ONE.1.id")" "$ONE" "webhook-id is the message id"
zh_assert_match "$(cat "$SAVE/$ONE.1.timestamp")" '^[0-9]{10}$' "webhook-timestamp"
zh_assert_eq "$(sig_count "$ONE")" 1 "signatures with one secret"
zh_assert_eq "$(sig_field "$ONE" 1)" "v1,$(hmac_b64 "$S1" "$(content "$ONE")")" \
    "v1 signature vs openssl HMAC"
zh_assert_eq "$(zh_rcv_field "$ONE" 1 sig_valid)" true "receiver's zh_webhook_verify"
zh_assert_eq "$(zv "$S1" "$ONE")" valid "zhook-verify with the secret"
zh_pass "one whsec_ secret: v1 signature equals openssl's HMAC-SHA256 over id.ts.body"

# --- rotation: two secrets, two signatures in list order ------------------------------
zh_assert_eq "$(sig_count "$ROT")" 2 "signatures with two secrets"
c=$(content "$ROT")
zh_assert_eq "$(sig_field "$ROT" 1)" "v1,$(hmac_b64 "$S1" "$c")" "first v1 vs openssl with S1"
zh_assert_eq "$(sig_field "$ROT" 2)" "v1,$(hmac_b64 "$S2" "$c")" "second v1 vs openssl with S2"
zh_assert_eq "$(zh_rcv_field "$ROT" 1 sig_valid)" true "receiver holding only the new secret"
zh_assert_eq "$(zv "$S1" "$ROT")" valid "zhook-verify with the old secret alone"
zh_assert_eq "$(zv "$S2" "$ROT")" valid "zhook-verify with the new secret alone"
zh_pass "rotation: two v1 signatures, each verifies with its own secret (openssl)"

# --- Ed25519 ---------------------------------------------------------------------------
zh_assert_eq "$(sig_count "$ED")" 1 "signatures with an Ed25519 key"
sig=$(sig_field "$ED" 1)
zh_assert_match "$sig" '^v1a,[A-Za-z0-9+/]{86}==$' "v1a signature form"
ed_verify "$ED" "$sig" || zh_fail "openssl pkeyutl -verify refused the v1a signature"
zh_assert_eq "$(zh_rcv_field "$ED" 1 sig_valid)" true "receiver with the whpk_ key"
zh_assert_eq "$(zv "$PK" "$ED")" valid "zhook-verify with the whpk_ key"
zh_assert_eq "$(zv "$S1" "$ED")" invalid "zhook-verify with an unrelated secret"
zh_pass "whsk_ key: v1a verified by openssl pkeyutl -rawin and by zhook-verify"

# --- mixed list: v1 then v1a -----------------------------------------------------------
zh_assert_eq "$(sig_count "$MIX")" 2 "signatures with a mixed list"
zh_assert_eq "$(sig_field "$MIX" 1)" "v1,$(hmac_b64 "$S2" "$(content "$MIX")")" "mixed: v1 first"
ed_verify "$MIX" "$(sig_field "$MIX" 2)" || zh_fail "mixed: openssl refused the v1a signature"
zh_pass "mixed list: v1 and v1a in list order, both verify"

# --- ZHOOK_SIGNING_SECRET as the default -----------------------------------------------
zh_assert_eq "$(sig_count "$DEF")" 1 "signatures with the default secret"
zh_assert_eq "$(sig_field "$DEF" 1)" "v1,$(hmac_b64 "$DEFAULT" "$(content "$DEF")")" \
    "default-secret signature vs openssl"
zh_assert_eq "$(zh_rcv_field "$DEF" 1 sig_valid)" true "receiver with the default secret"
zh_pass "message without a secret: signed with ZHOOK_SIGNING_SECRET"

# --- refusals ----------------------------------------------------------------------------
sed 's/"one"/"One"/' "$SAVE/$ONE.1.body" >"$ZH_TMP/tampered"
cmp -s "$ZH_TMP/tampered" "$SAVE/$ONE.1.body" && zh_fail "tampering did not change the body"
out=$(zv "$S1" "$ONE" "$ZH_TMP/tampered")
rc=$?
zh_assert_eq "$out:$rc" "invalid:1" "zhook-verify on a tampered body"
out=$(zv "$S2" "$ONE")
rc=$?
zh_assert_eq "$out:$rc" "invalid:1" "zhook-verify with the wrong secret"
"$VERIFY" --key "not-a-key" --id x --timestamp 1 --signature v1,x "$SAVE/$ONE.1.body" >/dev/null 2>&1
zh_assert_eq "$?" 2 "zhook-verify exit status on a malformed key"
# a timestamp far outside the tolerance: refused even with the right signature
old=$(printf '%s.%s.' "$ONE" 1000000000 | cat - "$SAVE/$ONE.1.body" >"$ZH_TMP/old" && hmac_b64 "$S1" "$ZH_TMP/old")
out=$(ZHOOK_VERIFY_KEYS=$S1 "$VERIFY" --id "$ONE" --timestamp 1000000000 --signature "v1,$old" \
    "$SAVE/$ONE.1.body")
zh_assert_eq "$out" invalid "zhook-verify with a 2001 timestamp (default tolerance 300 s)"
out=$(ZHOOK_VERIFY_KEYS=$S1 "$VERIFY" --tolerance 0 --id "$ONE" --timestamp 1000000000 \
    --signature "v1,$old" "$SAVE/$ONE.1.body")
zh_assert_eq "$out" valid "the same with --tolerance 0"
zh_pass "tampered body, wrong key, stale timestamp refused; malformed key is a usage error"

# --- the ingress refuses malformed key lists ---------------------------------------------
zh_api POST /v1/messages "{\"url\":\"$ZH_RCV/x\",\"payload\":1,\"secret\":\"$S1  $S2\"}"
zh_assert_eq "$ZH_STATUS" 422 "two spaces in a key list"
zh_api POST /v1/messages "{\"url\":\"$ZH_RCV/x\",\"payload\":1,\"secret\":\"$PK\"}"
zh_assert_eq "$ZH_STATUS" 422 "a public key as signing secret"
grep -q "$PK" "$ZH_TMP/resp.body" && zh_fail "the 422 echoes the key"
zh_pass "ingress: malformed key lists are 422, never echoed"

# no log line holds a secret or a signature
for f in "$ZH_TMP"/*.log; do
    for k in "${S1#whsec_}" "${S2#whsec_}" "${DEFAULT#whsec_}" "${SK#whsk_}" "$(sig_field "$ONE" 1)"; do
        grep -qF -- "$k" "$f" && zh_fail "$(basename "$f") holds a secret or signature"
    done
done
zh_pass "no secret or signature in the logs"
