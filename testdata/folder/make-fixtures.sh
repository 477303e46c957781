#!/usr/bin/env bash
# Regenerate the drop-folder fixtures with openssl: files in the formats real tools write, for
# the folder source's tests and fuzz seeds. The keys here are throwaway test keys; the point of
# most of these files is that certgal must refuse them.
#
# Usage: testdata/folder/make-fixtures.sh   (writes next to itself)
set -euo pipefail
cd "$(dirname "$0")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/ext.cnf" <<'CNF'
[ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
[leaf]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = email:alice@corp.example
CNF
openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" -out ca.pem -days 36500 \
	-subj "/CN=certgal fixture CA" -addext "basicConstraints=critical,CA:true" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$tmp/alice.key" -out "$tmp/alice.csr" -subj "/CN=alice" 2>/dev/null
openssl x509 -req -in "$tmp/alice.csr" -CA ca.pem -CAkey "$tmp/ca.key" -set_serial 0x1001 -days 36500 \
	-extfile "$tmp/ext.cnf" -extensions leaf -out alice.pem 2>/dev/null

# Certificates-only PKCS#7, as `openssl crl2pkcs7` (and Windows' certificate export) writes it.
openssl x509 -in alice.pem -outform DER -out alice.cer

openssl crl2pkcs7 -nocrl -certfile alice.pem -certfile ca.pem -outform DER -out alice-chain.p7b
openssl crl2pkcs7 -nocrl -certfile alice.pem -out alice.p7c

# Refused: PKCS#12 (by name and by content) and private keys in every PEM flavour.
openssl pkcs12 -export -in alice.pem -inkey "$tmp/alice.key" -passout pass:test -out alice.p12
cp alice.p12 alice-p12.bin
cat alice.pem "$tmp/alice.key" >alice-with-key.pem
openssl pkey -in "$tmp/alice.key" -outform DER -out alice-key.der
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ec.key" 2>/dev/null
openssl ec -in "$tmp/ec.key" -out ec-key.pem 2>/dev/null # "EC PRIVATE KEY"
openssl pkey -in "$tmp/ec.key" -aes128 -passout pass:test -out encrypted-key.pem # "ENCRYPTED PRIVATE KEY"
chmod 0644 ./*.pem ./*.p7b ./*.p7c ./*.cer ./*.p12 ./*.bin ./*.der
