"""Every Flickr verb through pixgate: status, upload, title, favorites, delete.

    pip install -r requirements.txt
    python flickr.py picture.png

PIXGATE_URL (default http://127.0.0.1:8080) is the gateway; PIXGATE_API_KEY,
when set, is sent as "Authorization: Bearer <key>". Try it with `pixgate --demo`,
whose fake Flickr account is already authorized; with a real key, authorize
first (open /flickr/auth/login, or `pixgate login --provider flickr`).
"""

import os
import sys

import requests

BASE = os.environ.get("PIXGATE_URL", "http://127.0.0.1:8080").rstrip("/")
KEY = os.environ.get("PIXGATE_API_KEY")
HEADERS = {"Authorization": f"Bearer {KEY}"} if KEY else {}


def check(response, expected, what):
    """Stop with pixgate's explanation unless the status is the expected one."""
    if response.status_code != expected:
        try:
            problem = response.json()  # application/problem+json
            reason = f"{problem['title']}: {problem['detail']} ({problem['type']})"
        except (ValueError, KeyError):
            reason = response.text[:300]
        sys.exit(f"{what} failed: HTTP {response.status_code}, expected {expected}. {reason}")
    return response


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python flickr.py PICTURE")
    path = sys.argv[1]

    status = check(requests.get(f"{BASE}/flickr/auth/status", headers=HEADERS, timeout=30),
                   200, "status").json()
    if not status["authorized"]:
        sys.exit(f"no Flickr account authorized: open {BASE}/flickr/auth/login first")
    print(f"Flickr account {status['username']} ({status['user_nsid']}), perms {status['perms']}")

    with open(path, "rb") as picture:
        files = {"photo": (os.path.basename(path), picture, "image/png")}
        data = {"title": "From Python", "tags": "pixgate example", "is_public": "0"}
        r = requests.post(f"{BASE}/flickr/v1/photos", files=files, data=data,
                          headers=HEADERS, timeout=120)
    photo = check(r, 201, "upload").json()
    photo_id = photo["id"]
    print(f"uploaded {photo_id} ({r.headers['Location']}): {photo['link']}")

    r = requests.patch(f"{BASE}/flickr/v1/photos/{photo_id}",
                       json={"description": "Described from Python"}, headers=HEADERS, timeout=30)
    photo = check(r, 200, "update").json()
    print(f"title {photo['title']!r}, description {photo['description']!r}")

    r = requests.get(f"{BASE}/flickr/v1/favorites", params={"per_page": 5},
                     headers=HEADERS, timeout=30)
    page = check(r, 200, "list favorites").json()
    print(f"{page['total']} favorites; page 1 of {page['pages']} (X-Cache: {r.headers.get('X-Cache')}):")
    for favorite in page["photos"]:
        print(f"  {favorite['id']:>12}  {favorite.get('title') or '(untitled)'}")

    if page["photos"]:
        first = page["photos"][0]["id"]
        for verb, favorited in (("DELETE", False), ("PUT", True), ("PUT", True)):
            r = requests.request(verb, f"{BASE}/flickr/v1/photos/{first}/favorite",
                                 headers=HEADERS, timeout=30)
            state = check(r, 200, f"{verb} favorite").json()
            if state["favorited"] != favorited:
                sys.exit(f"{verb} favorite left favorited={state['favorited']}")
        print(f"unfavorited and favorited {first} again (PUT twice: idempotent)")

    r = requests.delete(f"{BASE}/flickr/v1/photos/{photo_id}", headers=HEADERS, timeout=30)
    check(r, 204, "delete")
    r = requests.get(f"{BASE}/flickr/v1/photos/{photo_id}", headers=HEADERS, timeout=30)
    check(r, 404, "read after delete")
    print(f"deleted {photo_id}")

    limits = check(requests.get(f"{BASE}/v1/rate-limits", headers=HEADERS, timeout=30),
                   200, "rate limits").json()
    print(f"Flickr key budget: {limits['flickr']['used']} of {limits['flickr']['limit']} calls this hour")


if __name__ == "__main__":
    try:
        main()
    except requests.ConnectionError:
        sys.exit(f"cannot reach pixgate at {BASE}: is it running? (try `pixgate --demo`)")
