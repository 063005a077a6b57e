"""Make an album through pixgate, fill it, page through your images, read the ledger.

    pip install -r requirements.txt
    python albums.py picture.png

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


def upload(path, **fields):
    with open(path, "rb") as picture:
        files = {"image": (os.path.basename(path), picture)}
        r = requests.post(f"{BASE}/v1/images", files=files, data=fields, headers=HEADERS, timeout=60)
    return check(r, 201, "upload").json()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python albums.py PICTURE")
    path = sys.argv[1]

    first = upload(path, title="First")
    r = requests.post(f"{BASE}/v1/albums", json={"title": "From Python", "privacy": "hidden",
                                                 "image_ids": [first["id"]]},
                      headers=HEADERS, timeout=30)
    album = check(r, 201, "create album").json()
    print(f"album {album['id']} ({r.headers['Location']}), deletehash {album['deletehash']}, "
          f"ledger: {r.headers.get('X-Pixgate-Ledger')}")

    second = upload(path, title="Second", album=album["id"])
    print(f"uploaded {second['id']} straight into the album")
    third = upload(path, title="Third")
    r = requests.post(f"{BASE}/v1/albums/{album['id']}/images",
                      json={"image_ids": [third["id"], first["id"]]}, headers=HEADERS, timeout=30)
    if r.status_code == 200:  # Imgur skipped some: the body says which
        report = r.json()
        sys.exit(f"Imgur skipped {report['skipped']} (not yours?)")
    check(r, 204, "add images")
    print(f"added {third['id']} ({first['id']} was there already)")

    r = requests.get(f"{BASE}/v1/albums/{album['id']}", headers=HEADERS, timeout=30)
    in_album = [image["id"] for image in check(r, 200, "get album").json()["images"]]
    expected = {first["id"], second["id"], third["id"]}
    if set(in_album) != expected:
        sys.exit(f"the album holds {in_album}, expected {sorted(expected)}")
    print(f"the album holds {len(in_album)} images")

    # Your images, page by page, following the Link header (RFC 8288).
    url, pages, seen = f"{BASE}/v1/account/images?per_page=2", 0, []
    while url:
        r = check(requests.get(url, headers=HEADERS, timeout=30), 200, "your images")
        seen += [image["id"] for image in r.json()]
        pages += 1
        url = r.links.get("next", {}).get("url")
        url = f"{BASE}{url}" if url and url.startswith("/") else url
    print(f"your images: {len(seen)} on {pages} pages")
    if not expected <= set(seen):
        sys.exit("your images do not include the new uploads")

    r = requests.get(f"{BASE}/v1/uploads", params={"per_page": 10}, headers=HEADERS, timeout=30)
    ledger = check(r, 200, "uploads").json()
    print("ledger:", ", ".join(f"{e['kind']} {e['id']}" for e in ledger[:5]))

    r = requests.get(f"{BASE}/v1/rate-limits", headers=HEADERS, timeout=30)
    user = check(r, 200, "rate limits").json()["imgur"]["limits"]["user"]
    print(f"credits: {user['remaining']} of {user['limit']} left, {user['reserve']} kept in reserve")

    check(requests.delete(f"{BASE}/v1/albums/{album['id']}", headers=HEADERS, timeout=30), 204, "delete album")
    for image in (first, second, third):
        check(requests.delete(f"{BASE}/v1/images/{image['id']}", headers=HEADERS, timeout=30), 204, "delete image")
    print("deleted the album and its images")


if __name__ == "__main__":
    try:
        main()
    except requests.ConnectionError:
        sys.exit(f"cannot reach pixgate at {BASE}: is it running? (try `pixgate --demo`)")
