#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# https.sh CVMPI CLOUD_CHECK: the read-only http:// and https:// backend against nginx with a
# self-signed certificate made here: verification passes with the CA bundle (CV_CA_BUNDLE or
# CURL_CA_BUNDLE) and fails without it; gzip_static serves CloudFiles' NAME.gz files with
# Content-Encoding: gzip; HTTP/2 over TLS; Range; 404 and 403 read as missing; basic auth from http-secret.json;
# writes are refused.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || skip "nginx is needed (Debian: nginx-light)"
command -v openssl >/dev/null || skip "openssl is needed"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout key.pem -out cert.pem \
    >openssl.log 2>&1 || fail "openssl req: $(cat openssl.log)"

section "a layer written to file:// (gzip chunks as NAME.gz) and fixtures"
mkdir -p www/data
expect_exit 0 "$CVMPI" create www/data/img --type image --dtype uint8 --size 160,150,40 \
    --chunk 64,64,20 --resolution 4,4,40
np_gen in.raw $((160 * 150 * 40)) 4
expect_exit 0 "$CVMPI" write www/data/img -i in.raw --bbox 0,0,0,160,150,40
compgen -G "www/data/img/4_4_40/*.gz" >/dev/null || fail "no .gz chunks were written"
expect_exit 0 "$CHECK" mkfiles www/data
gzip -9 -c www/data/blob >www/data/zipped.gz
echo secret >www/data/forbidden

mkdir -p www/private
cp -r www/data/img www/private/img
echo "reader:$(openssl passwd -apr1 Pa55word)" >htpasswd

HTTP_PORT=$(free_port)
HTTPS_PORT=$(free_port)
mkdir -p nginx-tmp
# As root nginx drops its workers to `nobody`, who cannot enter this directory: keep root.
USER_LINE=
[[ $(id -u) == 0 ]] && USER_LINE="user root root;"
cat >nginx.conf <<EOF
$USER_LINE
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 256; }
http {
  log_format conn '\$connection \$server_protocol "\$request" \$status';
  access_log $WORK/nginx-access.log;
  access_log $WORK/nginx-conn.log conn;
  client_body_temp_path $WORK/nginx-tmp/body;
  proxy_temp_path $WORK/nginx-tmp/proxy;
  fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
  scgi_temp_path $WORK/nginx-tmp/scgi;
  types { application/json json; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$HTTP_PORT;
    listen 127.0.0.1:$HTTPS_PORT ssl http2;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    root $WORK/www;
    gzip_static on;
    gunzip on;
    location = /data/forbidden { return 403; }
    location /private/ {
      auth_basic "cvmpi";
      auth_basic_user_file $WORK/htpasswd;
    }
  }
}
EOF
serve nginx "$HTTPS_PORT" "$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log"
wait_port "$HTTP_PORT" nginx

section "storage checks over https with CV_CA_BUNDLE"
CV_CA_BUNDLE=$WORK/cert.pem CLOUD_URL=https://127.0.0.1:$HTTPS_PORT/data \
    expect_exit 0 "$CHECK" readonly missing

section "cvmpi reads the layer over https (CV_CA_BUNDLE, then CURL_CA_BUNDLE) and http"
CV_CA_BUNDLE=$WORK/cert.pem expect_exit 0 "$CVMPI" read "https://127.0.0.1:$HTTPS_PORT/data/img" \
    -o out.raw --threads 8
expect_same_files in.raw out.raw
CURL_CA_BUNDLE=$WORK/cert.pem expect_exit 0 "$CVMPI" exists "https://127.0.0.1:$HTTPS_PORT/data/img"
[[ $(cat "$OUT") == "18/18 chunks present" ]] || fail "exists: $(cat "$OUT")"
expect_exit 0 "$CVMPI" read "http://127.0.0.1:$HTTP_PORT/data/img" -o plain.raw
expect_same_files in.raw plain.raw
grep -q '"GET /data/img/4_4_40/0-64_0-64_0-20 HTTP/1.1" 200' nginx-access.log ||
    fail "nginx did not serve the chunks by their plain names"
grep -q '"GET /data/img/4_4_40/0-64_0-64_0-20 HTTP/2.0" 200' nginx-access.log ||
    fail "HTTP/2 was not used over TLS"
# 8 requests in flight share the process's connections: over HTTP/2 they are multiplexed on
# one or two TLS connections instead of one each.
n_conn=$(awk '$2 == "HTTP/2.0" && $4 ~ /4_4_40/ { print $1 }' nginx-conn.log | sort -u | wc -l)
n_req=$(awk '$2 == "HTTP/2.0" && $4 ~ /4_4_40/' nginx-conn.log | wc -l)
(( n_req >= 18 && n_conn >= 1 && n_conn <= 2 )) ||
    fail "HTTP/2 chunk requests: $n_req on $n_conn connections (want them multiplexed)"

section "without the CA bundle the certificate is refused at once"
expect_exit 1 "$CVMPI" info "https://127.0.0.1:$HTTPS_PORT/data/img"
expect_stderr_contains "https://127.0.0.1:$HTTPS_PORT/data/img/info"
expect_stderr_contains "certificate"
expect_stderr_lacks "retry"

section "a missing chunk (404) is an error unless --fill-missing"
rm www/data/img/4_4_40/64-128_64-128_20-40.gz
CV_CA_BUNDLE=$WORK/cert.pem expect_exit 1 "$CVMPI" read "https://127.0.0.1:$HTTPS_PORT/data/img" \
    -o out.raw
expect_stderr_contains "64-128_64-128_20-40"
CV_CA_BUNDLE=$WORK/cert.pem expect_exit 0 "$CVMPI" read "https://127.0.0.1:$HTTPS_PORT/data/img" \
    -o out.raw --fill-missing

section "basic auth from http-secret.json"
expect_exit 1 "$CVMPI" info "http://127.0.0.1:$HTTP_PORT/private/img"
expect_stderr_contains "401"
mkdir -p "$HOME/.cloudvolume/secrets"
echo '{"user": "reader", "password": "Pa55word"}' >"$HOME/.cloudvolume/secrets/http-secret.json"
CV_LOG=debug expect_exit 0 "$CVMPI" read "http://127.0.0.1:$HTTP_PORT/private/img" -o auth.raw
expect_same_files in.raw auth.raw
expect_stderr_lacks "Pa55word"

section "http(s) is read-only"
expect_exit 1 "$CVMPI" write "http://127.0.0.1:$HTTP_PORT/data/img" -i in.raw \
    --bbox 0,0,0,160,150,40
expect_stderr_contains "read-only"
echo "PASS ($TEST_NAME)"
