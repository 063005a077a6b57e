#!/usr/bin/env bash
# Every pixgate endpoint with curl, in the order you would try them.
# Needs only curl and python3 (for reading JSON). Try it against the demo:
#   pixgate --demo &                       # or: cargo run -- --demo
#   bash examples/curl.sh
# PIXGATE_URL (default http://127.0.0.1:8080) and PIXGATE_API_KEY (sent as
# "Authorization: Bearer <key>" when set) say which gateway to call.
set -euo pipefail

BASE="${PIXGATE_URL:-http://127.0.0.1:8080}"
BASE="${BASE%/}"
AUTH=()
if [[ -n "${PIXGATE_API_KEY:-}" ]]; then
  AUTH=(-H "Authorization: Bearer ${PIXGATE_API_KEY}")
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# call ARGS...: curl with the key; prints the body, or prints the problem
# (application/problem+json) to stderr and fails.
call() {
  local body
  if ! body="$(curl --fail-with-body -sS ${AUTH[@]+"${AUTH[@]}"} "$@")"; then
    printf 'FAILED: curl %s\n%s\n' "$*" "$body" >&2
    return 1
  fi
  printf '%s' "$body"
}

# field NAME: one field of the JSON object on stdin (fails if it is missing).
field() {
  python3 -c 'import json, sys
text = sys.stdin.read() or sys.exit(1)
value = json.loads(text)[sys.argv[1]]
print(value if isinstance(value, str) else json.dumps(value))' "$1"
}

# HEADERS holds the response headers of calls made with -D "$HEADERS".
HEADERS="$WORK/headers"
header() { grep -i "^$1:" "$HEADERS" | cut -d' ' -f2- | tr -d '\r'; }

# A 1x1 PNG, so no input file is needed.
PNG="$WORK/pixel.png"
printf '%s' 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==' \
  | base64 -d >"$PNG"

echo "== health and authorization ($BASE)"
OK="$(call "$BASE/healthz" | field status)"
echo "healthz:       $OK"
MODE="$(call "$BASE/readyz" | field mode)"
echo "readyz:        ready, $MODE mode"
USER_NAME="$(call "$BASE/auth/status" | field account_username)"
echo "auth/status:   authorized as $USER_NAME"
ACCOUNT_ID="$(call "$BASE/v1/account" | field id)"
echo "account:       id $ACCOUNT_ID"
CREDITS="$(call "$BASE/v1/rate-limits" | python3 -c 'import json, sys
user = json.load(sys.stdin)["imgur"]["limits"]["user"]
print("%s of %s user credits left, %s kept in reserve" % (user["remaining"], user["limit"], user["reserve"]))')"
echo "rate-limits:   $CREDITS"

echo "== images"
IMAGE="$(call -F "image=@$PNG;type=image/png" -F "title=pixgate example" "$BASE/v1/images")"
ID="$(field id <<<"$IMAGE")"
echo "upload:        $ID at $(field link <<<"$IMAGE")"
TITLE="$(call "$BASE/v1/images/$ID" | field title)"
echo "get:           title \"$TITLE\""
TITLE="$(call -X PATCH -H 'Content-Type: application/json' \
  -d '{"title":"A better title","description":"uploaded by curl.sh"}' \
  "$BASE/v1/images/$ID" | field title)"
echo "update:        title \"$TITLE\""

echo "== favorites"
STATE="$(call -X PUT "$BASE/v1/images/$ID/favorite" | field favorited)"
echo "favorite:      favorited=$STATE"
COUNT="$(call -D "$HEADERS" "$BASE/v1/favorites?page=0&sort=newest" \
  | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')"
ETAG="$(header ETag)"
echo "favorites:     $COUNT on page 0 (X-Cache: $(header X-Cache), ETag: $ETAG)"
CODE="$(call -o /dev/null -w '%{http_code}' -H "If-None-Match: $ETAG" "$BASE/v1/favorites")"
echo "If-None-Match: HTTP $CODE (unchanged)"
call -o /dev/null -D "$HEADERS" -H 'Cache-Control: no-cache' "$BASE/v1/favorites"
echo "no-cache:      X-Cache: $(header X-Cache)"
STATE="$(call -X DELETE "$BASE/v1/images/$ID/favorite" | field favorited)"
echo "unfavorite:    favorited=$STATE"
STATE="$(call -X POST "$BASE/v1/images/$ID/favorite" | field favorited)"
echo "toggle:        favorited=$STATE"

echo "== albums"
ALBUM="$(call -H 'Content-Type: application/json' \
  -d "{\"title\":\"pixgate example\",\"privacy\":\"hidden\",\"image_ids\":[\"$ID\"]}" "$BASE/v1/albums")"
ALBUM_ID="$(field id <<<"$ALBUM")"
echo "create album:  $ALBUM_ID ($(field images_count <<<"$ALBUM") image, deletehash $(field deletehash <<<"$ALBUM"))"
SECOND="$(call -F "image=@$PNG;type=image/png" -F "album=$ALBUM_ID" "$BASE/v1/images" | field id)"
echo "upload into:   $SECOND (the album field)"
THIRD="$(call -F "image=@$PNG;type=image/png" "$BASE/v1/images" | field id)"
CODE="$(call -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  -d "{\"image_ids\":[\"$THIRD\",\"$ID\"]}" "$BASE/v1/albums/$ALBUM_ID/images")"
echo "add images:    HTTP $CODE (204: both are in the album; 200 would list what Imgur skipped)"
TITLE="$(call -X PATCH -H 'Content-Type: application/json' -d '{"title":"Renamed by curl.sh"}' \
  "$BASE/v1/albums/$ALBUM_ID" | field title)"
echo "update album:  title \"$TITLE\""
COUNT="$(call "$BASE/v1/albums/$ALBUM_ID" | field images_count)"
echo "get album:     $COUNT images"
CODE="$(call -o /dev/null -w '%{http_code}' -X DELETE "$BASE/v1/albums/$ALBUM_ID/images/$THIRD")"
echo "remove image:  HTTP $CODE"
STATE="$(call -X PUT "$BASE/v1/albums/$ALBUM_ID/favorite" | field favorited)"
echo "favorite:      favorited=$STATE"
COUNT="$(call "$BASE/v1/account/albums" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')"
echo "your albums:   $COUNT"

echo "== your images and the ledger"
call -o /dev/null -D "$HEADERS" "$BASE/v1/account/images?per_page=2"
echo "your images:   page 0, next: $(header Link)"
echo "count:         $(call "$BASE/v1/account/images/count" | field count) images"
LEDGER="$(call "$BASE/v1/uploads?per_page=5" | python3 -c 'import json, sys
print(" ".join(e["kind"] + ":" + e["id"] for e in json.load(sys.stdin)))')"
echo "uploads:       $LEDGER"

echo "== clean up"
CODE="$(call -o /dev/null -w '%{http_code}' -X DELETE "$BASE/v1/albums/$ALBUM_ID")"
echo "delete album:  HTTP $CODE"
for IMAGE in "$SECOND" "$THIRD"; do
  call -o /dev/null -X DELETE "$BASE/v1/images/$IMAGE"
done
CODE="$(call -o /dev/null -w '%{http_code}' -X DELETE "$BASE/v1/images/$ID")"
echo "delete:        HTTP $CODE"
CODE="$(curl -sS -o /dev/null -w '%{http_code}' ${AUTH[@]+"${AUTH[@]}"} "$BASE/v1/images/$ID")"
echo "get again:     HTTP $CODE (not-found)"
[[ "$CODE" == 404 ]]
echo "curl.sh: every call succeeded"
