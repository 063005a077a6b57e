"""Upload a picture through pixgate, give it a title, favorite it, list favorites.

    pip install -r requirements.txt
    python favorites.py picture.png

PIXGATE_URL (default http://127.0.0.1:8080) is the gateway; PIXGATE_API_KEY,
when set, is sent as "Authorization: Bearer <key>". Try it with `pixgate --demo`.
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
        sys.exit("usage: python favorites.py PICTURE")
    path = sys.argv[1]

    with open(path, "rb") as picture:
        files = {"image": (os.path.basename(path), picture)}
        r = requests.post(f"{BASE}/v1/images", files=files, headers=HEADERS, timeout=60)
    image = check(r, 201, "upload").json()
    image_id = image["id"]
    print(f"uploaded {image_id}: {image['link']}")

    r = requests.patch(f"{BASE}/v1/images/{image_id}", json={"title": "Favorited from Python"},
                       headers=HEADERS, timeout=30)
    print(f"title is now {check(r, 200, 'update').json()['title']!r}")

    r = requests.put(f"{BASE}/v1/images/{image_id}/favorite", headers=HEADERS, timeout=30)
    print(f"favorited: {check(r, 200, 'favorite').json()['favorited']}")

    r = requests.get(f"{BASE}/v1/favorites", params={"page": 0, "sort": "newest"},
                     headers=HEADERS, timeout=30)
    favorites = check(r, 200, "list favorites").json()
    print(f"{len(favorites)} favorites on page 0 (X-Cache: {r.headers.get('X-Cache')}):")
    for favorite in favorites:
        print(f"  {favorite['id']:>10}  {favorite.get('title') or '(untitled)'}")
    if image_id not in [favorite["id"] for favorite in favorites]:
        sys.exit(f"{image_id} is not among the newest favorites")
    auth = ' -H "Authorization: Bearer $PIXGATE_API_KEY"' if KEY else ""
    print(f"to delete it: curl -X DELETE{auth} {BASE}/v1/images/{image_id}")


if __name__ == "__main__":
    try:
        main()
    except requests.ConnectionError:
        sys.exit(f"cannot reach pixgate at {BASE}: is it running? (try `pixgate --demo`)")
