#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# http_index.sh CVMPI CLOUD_CHECK: listing http:// directories from their index pages, as
# CloudFiles lists Apache's: Python's http.server (its own directory listing) on 127.0.0.1,
# and nginx-autoindex-shaped pages it serves as index.html. ls and ls -r give exact names
# (percent- and entity-decoded), cp -r copies exact bytes and counts; parent, sort, other-host,
# outside and nested links are skipped; a page that is no index, a 404 and a page over the
# 8 MiB cap are clear errors.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

mkdir -p "www/d/sub dir/deep" www/d/e www/ng/sub www/plain www/big
echo a >www/d/a.txt
for ((i = 0; i < 3; i++)); do printf "$(printf '\\%03o' {0..255})"; done >"www/d/sub dir/b&c %.bin"
echo deep >"www/d/sub dir/deep/z"
echo f >www/d/e/f
# nginx's autoindex: <pre> of links, ../ first, escaped hrefs; plus links that must be skipped.
echo one >www/ng/one
echo "two words" >"www/ng/two words"
echo three >www/ng/sub/three
cat >www/ng/index.html <<'HTML'
<html>
<head><title>Index of /ng/</title></head>
<body>
<h1>Index of /ng/</h1><hr><pre><a href="../">../</a>
<a href="sub/">sub/</a>                                               05-Dec-2026 12:00       -
<a href="one">one</a>                                                05-Dec-2026 12:00       4
<a href="two%20words">two words</a>                                  05-Dec-2026 12:00      10
<a href="http://elsewhere.example/x">x</a> <a href="/d/a.txt">outside</a> <a href="?C=N;O=D">Name</a>
<a href="sub/three">nested</a> <a href="./">self</a> <a href="%2e%2e/up">up</a> <a href="mailto:a@b">m</a>
</pre><hr></body>
</html>
HTML
cat >www/ng/sub/index.html <<'HTML'
<html><head><title>Index of /ng/sub/</title></head><body><h1>Index of /ng/sub/</h1><hr><pre><a href="../">../</a>
<a href="three">three</a>                                              05-Dec-2026 12:00       6
<A HREF='/ng/sub/three'>three, as an absolute link</A>
</pre><hr></body></html>
HTML
echo '<html><head><title>Welcome</title></head><body><a href="x">x</a></body></html>' >www/plain/index.html
{ echo '<html><head><title>Index of /big/</title></head><body>'; head -c 9000000 /dev/zero | tr '\0' x; } >www/big/index.html

PORT=$(free_port)
serve web "$PORT" "$PY" -m http.server "$PORT" --bind 127.0.0.1 --directory www
URL=http://127.0.0.1:$PORT

section "ls and ls -r of Python's http.server listing"
expect_exit 0 "$CVMPI" ls "$URL/d/"
[[ $(cat "$OUT") == "$URL/d/a.txt
$URL/d/e/
$URL/d/sub dir/" ]] || fail "ls"
expect_exit 0 "$CVMPI" ls -r "$URL/d"
[[ $(cat "$OUT") == "$URL/d/a.txt
$URL/d/e/f
$URL/d/sub dir/b&c %.bin
$URL/d/sub dir/deep/z" ]] || fail "ls -r"
expect_exit 0 "$CVMPI" ls "$URL/d/sub*"
[[ $(cat "$OUT") == "$URL/d/sub dir/" ]] || fail "ls with *"

section "cp -r of an http directory: exact bytes, exact count"
expect_exit 0 "$CVMPI" cp -r "$URL/d/" copy
[[ $(cat "$OUT") == "copied 4 objects (777 bytes), 0 already present" ]] || fail "cp -r report"
diff -r www/d copy >/dev/null || fail "cp -r copied different bytes"

section "nginx-shaped index pages: only the directory's own entries"
expect_exit 0 "$CVMPI" ls -r "$URL/ng"
[[ $(cat "$OUT") == "$URL/ng/one
$URL/ng/sub/three
$URL/ng/two words" ]] || fail "ls -r of nginx pages"
expect_exit 0 "$CVMPI" cp -r "$URL/ng" ngcopy
[[ $(cat "$OUT") == "copied 3 objects (20 bytes), 0 already present" ]] || fail "cp -r of nginx pages"
[[ $(cat ngcopy/one ngcopy/sub/three "ngcopy/two words") == "one
three
two words" && $(find ngcopy -type f | wc -l) == 3 ]] || fail "nginx copy"

section "no index: clear errors"
expect_exit 1 "$CVMPI" ls "$URL/nothere/"
[[ $(cat "$ERR") == "cvmpi: list \`$URL/nothere/': the server gives no directory index (HTTP 404 Not Found)" ]] ||
    fail "404"
expect_exit 1 "$CVMPI" cp -r "$URL/plain" pcopy
[[ $(cat "$ERR") == "cvmpi: list \`$URL/plain/': the page is not a directory index (no \"Index of\" title)" ]] ||
    fail "not an index"
[[ ! -e pcopy ]] || fail "cp -r of a non-index wrote something"
expect_exit 1 "$CVMPI" ls -r "$URL/big"
[[ $(cat "$ERR") == "cvmpi: GET \`$URL/big/': body larger than the 8388608 bytes expected" ]] ||
    fail "a page over the cap"
echo "PASS ($TEST_NAME)"
