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

  await call<void>("delete", 204, "/v1/images/{id}", { id, method: "DELETE" });
  const gone = await call<Problem>("get deleted", 404, "/v1/images/{id}", { id });
  console.log(`delete: done; getting it again answers ${gone.status} ${gone.type}`);
}

try {
  await main();
  console.log("typescript example: every call succeeded");
} catch (error) {
  const cause = error instanceof Error && error.cause ? ` (${String(error.cause)})` : "";
  console.error(`${error instanceof Error ? error.message : String(error)}${cause}`);
  process.exit(1);
}
