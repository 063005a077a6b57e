// pixgate from TypeScript with plain fetch. The types come from
// src/pixgate.d.ts, which `npm run generate` makes from the committed
// openapi/openapi.json: when the API changes, `npm run build` fails here.
//
//   npm ci && npm run build && node dist/main.js
//
// PIXGATE_URL (default http://127.0.0.1:8080) is the gateway; PIXGATE_API_KEY,
// when set, is sent as "Authorization: Bearer <key>". Try it with `pixgate --demo`.
import type { components, paths } from "./pixgate.js";

type Uploaded = paths["/v1/images"]["post"]["responses"][201]["content"]["application/json"];
type Image = paths["/v1/images/{id}"]["get"]["responses"][200]["content"]["application/json"];
type ImageUpdate = paths["/v1/images/{id}"]["patch"]["requestBody"]["content"]["application/json"];
type Updated = paths["/v1/images/{id}"]["patch"]["responses"][200]["content"]["application/json"];
type FavoriteState =
  paths["/v1/images/{id}/favorite"]["put"]["responses"][200]["content"]["application/json"];
type Favorites = paths["/v1/favorites"]["get"]["responses"][200]["content"]["application/json"];
type Problem = components["schemas"]["Problem"];
type AlbumBody = components["schemas"]["AlbumBody"];
type Album = paths["/v1/albums"]["post"]["responses"][201]["content"]["application/json"];
type YourImages =
  paths["/v1/account/images"]["get"]["responses"][200]["content"]["application/json"];
type Uploads = paths["/v1/uploads"]["get"]["responses"][200]["content"]["application/json"];
type RateLimits = paths["/v1/rate-limits"]["get"]["responses"][200]["content"]["application/json"];

const BASE = (process.env.PIXGATE_URL || "http://127.0.0.1:8080").replace(/\/$/, "");
const KEY = process.env.PIXGATE_API_KEY;

// A 1x1 PNG, so no input file is needed.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

/** Calls `path` (with `{id}` filled in) and insists on the `expected` status. */
async function call<T>(
  what: string,
  expected: number,
  path: keyof paths,
  init: RequestInit & { id?: string; query?: string } = {},
): Promise<T> {
  const headers = new Headers(init.headers);
  if (KEY) headers.set("Authorization", `Bearer ${KEY}`);
  const url = BASE + path.replace("{id}", encodeURIComponent(init.id ?? "")) + (init.query ?? "");
  const response = await fetch(url, { ...init, headers });
  const text = await response.text();
  if (response.status !== expected) {
    let reason = text.slice(0, 300);
    try {
      const problem = JSON.parse(text) as Problem; // application/problem+json
      reason = `${problem.title}: ${problem.detail} (${problem.type})`;
    } catch {
      // not a problem document: show the raw text
    }
    throw new Error(`${what} failed: HTTP ${response.status}, expected ${expected}. ${reason}`);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

async function main(): Promise<void> {
  const form = new FormData();
  form.append("image", new Blob([PNG], { type: "image/png" }), "pixel.png");
  form.append("title", "From TypeScript");
  const uploaded = await call<Uploaded>("upload", 201, "/v1/images", { method: "POST", body: form });
  const id = uploaded.id;
  console.log(`uploaded ${id}: ${uploaded.link ?? "(no link)"}`);

  const image = await call<Image>("get", 200, "/v1/images/{id}", { id });
  console.log(`get: title ${JSON.stringify(image.title)}, ${image.width}x${image.height} ${image.type}`);
  check(image.id === id, `asked for ${id}, got ${image.id}`);

  const update: ImageUpdate = { title: "Renamed from TypeScript" };
  const updated = await call<Updated>("update", 200, "/v1/images/{id}", {
    id,
    method: "PATCH",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(update),
  });
  console.log(`update: title ${JSON.stringify(updated.title)}`);
  check(updated.title === update.title, "the title did not change");

  const state = await call<FavoriteState>("favorite", 200, "/v1/images/{id}/favorite", {
    id,
    method: "PUT",
  });
  console.log(`favorite: favorited=${state.favorited}`);
  check(state.favorited, "the image is not a favorite");

  const favorites = await call<Favorites>("list favorites", 200, "/v1/favorites", {
    query: "?page=0&sort=newest",
  });
  console.log(`favorites: ${favorites.map((f) => f.id).join(" ")}`);
  check(favorites.some((f) => f.id === id), `${id} is not among the newest favorites`);

  await albumFlow(id);

  await call<void>("delete", 204, "/v1/images/{id}", { id, method: "DELETE" });
  const gone = await call<Problem>("get deleted", 404, "/v1/images/{id}", { id });
  console.log(`delete: done; getting it again answers ${gone.status} ${gone.type}`);
}

/** An album around `imageId`: create, add an upload, rename, read, page your images, delete. */
async function albumFlow(imageId: string): Promise<void> {
  const json = { "Content-Type": "application/json" };
  const body: AlbumBody = { title: "From TypeScript", privacy: "hidden", image_ids: [imageId] };
  const album = await call<Album>("create album", 201, "/v1/albums", {
    method: "POST",
    headers: json,
    body: JSON.stringify(body),
  });
  console.log(`album: ${album.id} with deletehash ${album.deletehash ?? "(none)"}`);

  const form = new FormData();
  form.append("image", new Blob([PNG], { type: "image/png" }), "second.png");
  const second = await call<Uploaded>("upload", 201, "/v1/images", { method: "POST", body: form });
  // 204: every image is in the album (200 would list the ones Imgur skipped).
  await call<void>("add images", 204, "/v1/albums/{id}/images", {
    id: album.id,
    method: "POST",
    headers: json,
    body: JSON.stringify({ image_ids: [second.id, imageId] }),
  });
  console.log(`add images: ${second.id} added, ${imageId} was there already`);

  const renamed = await call<Album>("update album", 200, "/v1/albums/{id}", {
    id: album.id,
    method: "PATCH",
    headers: json,
    body: JSON.stringify({ title: "Renamed from TypeScript" }),
  });
  check(renamed.title === "Renamed from TypeScript", "the album title did not change");
  const read = await call<Album>("get album", 200, "/v1/albums/{id}", { id: album.id });
  const ids = (read.images ?? []).map((image) => image.id);
  console.log(`get album: ${JSON.stringify(read.title)} holds ${ids.join(" ")}`);
  check(ids.includes(imageId) && ids.includes(second.id), "the album lacks an image");

  const yours = await call<YourImages>("your images", 200, "/v1/account/images", {
    query: "?per_page=100",
  });
  check(yours.some((image) => image.id === second.id), "your images lack the new upload");
  const ledger = await call<Uploads>("uploads", 200, "/v1/uploads", { query: "?per_page=5" });
  console.log(`ledger: ${ledger.map((entry) => `${entry.kind} ${entry.id}`).join(", ")}`);
  check(ledger.some((entry) => entry.kind === "album" && entry.id === album.id), "the ledger lacks the album");
  const limits = await call<RateLimits>("rate limits", 200, "/v1/rate-limits");
  const user = limits.imgur.limits["user"];
  console.log(`credits: ${user?.remaining} of ${user?.limit} left, ${user?.reserve} in reserve`);

  await call<void>("delete album", 204, "/v1/albums/{id}", { id: album.id, method: "DELETE" });
  await call<void>("delete", 204, "/v1/images/{id}", { id: second.id, method: "DELETE" });
}

try {
  await main();
  console.log("typescript example: every call succeeded");
} catch (error) {
  const cause = error instanceof Error && error.cause ? ` (${String(error.cause)})` : "";
  console.error(`${error instanceof Error ? error.message : String(error)}${cause}`);
  process.exit(1);
}
