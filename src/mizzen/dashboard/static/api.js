// Talking to the control plane's API. The HttpOnly cookie set at login authenticates every call.

export class AuthError extends Error {}
export class NotFound extends Error {}

export async function getJSON(path) {
  const resp = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (resp.status === 401) throw new AuthError("not logged in");
  if (resp.status === 404) throw new NotFound(path);
  if (!resp.ok) throw new Error(`${path}: HTTP ${resp.status}`);
  return resp.json();
}

export async function login(token) {
  const resp = await fetch("/login", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
  });
  return resp.status === 204;
}

export async function logout() {
  await fetch("/logout", { method: "POST", credentials: "same-origin" });
}
