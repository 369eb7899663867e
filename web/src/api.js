// The HTTP API as the dashboard uses it: plain GETs, and actions that carry
// the bearer token kept in sessionStorage (this browser tab's session only).
// An action is never sent without a token; a refused or failed one throws
// an Error whose message is the API's own.

const TOKEN_KEY = 'drover.token';

export function getToken() {
	try {
		return sessionStorage.getItem(TOKEN_KEY) || '';
	} catch {
		return '';
	}
}

export function setToken(t) {
	try {
		if (t) sessionStorage.setItem(TOKEN_KEY, t);
		else sessionStorage.removeItem(TOKEN_KEY);
	} catch {
		/* storage disabled: the token lives as long as the page */
	}
	tokenListeners.forEach((f) => f(t));
}

export const tokenListeners = new Set();

async function errorOf(r) {
	let msg = `${r.status} ${r.statusText}`;
	let errors;
	try {
		const j = await r.json();
		if (j && j.error) {
			msg = j.error.message || msg;
			errors = j.error.errors;
		}
	} catch {
		/* not JSON: keep the status line */
	}
	const e = new Error(msg);
	e.status = r.status;
	e.errors = errors;
	return e;
}

export async function getJSON(path, opts) {
	const r = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store', ...opts });
	if (!r.ok) throw await errorOf(r);
	return r.json();
}

// POST/PUT path with body; resolves to the reply's JSON.
export async function act(method, path, body) {
	const token = getToken();
	if (!token) {
		const e = new Error('No API token: enter droverd\u2019s token first. Nothing was sent.');
		e.status = 0;
		throw e;
	}
	const r = await fetch(path, {
		method,
		headers: {
			Authorization: 'Bearer ' + token,
			'Content-Type': 'application/json',
			Accept: 'application/json',
		},
		body: body === undefined ? undefined : JSON.stringify(body),
		cache: 'no-store',
	});
	if (!r.ok) {
		const e = await errorOf(r);
		if (r.status === 401) setToken('');
		throw e;
	}
	try {
		return await r.json();
	} catch {
		return null;
	}
}

export const enc = encodeURIComponent;
