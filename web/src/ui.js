// Shared pieces: state badges, the confirmation dialog every action goes
// through (it asks for the token once, and shows the API's message when the
// action is refused), and toasts.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { getToken, setToken } from './api.js';
import { STATE_ICON } from './format.js';
import { changed, state } from './store.js';

export function StateBadge({ s }) {
	return html`<span class=${'badge st-' + s}><span aria-hidden="true">${STATE_ICON[s] || '?'}</span> ${s}</span>`;
}

state.dialog = null; // {title, detail, confirm, run, input?}
state.toasts = [];

let toastSeq = 0;
export function toast(text, kind = 'ok') {
	const t = { id: ++toastSeq, text, kind };
	state.toasts = [...state.toasts, t];
	changed();
	setTimeout(() => {
		state.toasts = state.toasts.filter((x) => x !== t);
		changed();
	}, 5000);
}

// Opens the confirmation dialog. run(inputValue) performs the action and
// returns the success text; when it throws, the dialog stays open with the
// API's message.
export function confirmAction(opts) {
	state.dialog = opts;
	changed();
}

export function Toasts() {
	return html`<div class="toasts" role="status" aria-live="polite">
		${state.toasts.map((t) => html`<div key=${t.id} class=${'toast ' + t.kind}>${t.text}</div>`)}
	</div>`;
}

export function Dialog() {
	const d = state.dialog;
	const ref = useRef();
	const [token, setTok] = useState('');
	const [input, setInput] = useState('');
	const [error, setError] = useState(null);
	const [busy, setBusy] = useState(false);
	const needToken = !getToken();

	useEffect(() => {
		const el = ref.current;
		if (!el) return;
		if (d && !el.open) {
			setTok('');
			setInput(d.input ? String(d.input.value ?? '') : '');
			setError(null);
			setBusy(false);
			el.showModal();
		} else if (!d && el.open) el.close();
	}, [d]);

	const close = () => {
		state.dialog = null;
		changed();
	};
	const submit = async (e) => {
		e.preventDefault();
		if (!d || busy) return;
		if (needToken) {
			if (!token.trim()) {
				setError({ message: 'Enter droverd\u2019s API token: no action is sent without it.' });
				return;
			}
			setToken(token.trim());
		}
		setBusy(true);
		setError(null);
		try {
			const text = await d.run(input);
			close();
			toast(text || 'Done');
		} catch (err) {
			setError({ message: err.message, errors: err.errors, status: err.status });
		} finally {
			setBusy(false);
		}
	};
	return html`<dialog ref=${ref} class="dialog" onClose=${() => state.dialog && close()} aria-labelledby="dlg-title">
		${d &&
		html`<form method="dialog" onSubmit=${submit}>
			<h2 id="dlg-title">${d.title}</h2>
			<p class="detail">${d.detail}</p>
			${d.input &&
			html`<label class="field">${d.input.label}
				${d.input.type === 'select'
					? html`<select value=${input} onChange=${(e) => setInput(e.target.value)} name="value">
							${d.input.options.map((o) => html`<option value=${o}>${o}</option>`)}
						</select>`
					: html`<input name="value" type=${d.input.type || 'text'} min=${d.input.min} value=${input}
							onInput=${(e) => setInput(e.target.value)} required />`}
			</label>`}
			${needToken &&
			html`<label class="field">API token <small>(asked once, kept for this browser session only)</small>
				<input name="token" type="password" autocomplete="off" value=${token} onInput=${(e) => setTok(e.target.value)} />
			</label>`}
			${error &&
			html`<div class="error" role="alert">
				<strong>${error.status ? `Refused (${error.status}): ` : ''}</strong>${error.message}
				${error.errors && html`<ul>${error.errors.map((x) => html`<li>${x}</li>`)}</ul>`}
			</div>`}
			<div class="buttons">
				<button type="button" onClick=${close}>Cancel</button>
				<button type="submit" class=${'primary ' + (d.danger ? 'danger' : '')} disabled=${busy}>${busy ? 'Working\u2026' : d.confirm}</button>
			</div>
		</form>`}
	</dialog>`;
}

export function TokenButton() {
	const has = !!getToken();
	const click = () => {
		if (has) {
			setToken('');
			toast('Token forgotten');
			changed();
			return;
		}
		confirmAction({
			title: 'API token',
			detail: 'Actions (start, stop, restart, signal, scale, reload) need droverd\u2019s token. It is kept in this tab\u2019s session storage only.',
			confirm: 'Keep token',
			run: async () => 'Token kept for this session',
		});
	};
	return html`<button class="token" onClick=${click} title=${has ? 'Forget the API token' : 'Enter the API token'}>
		${has ? 'Token: set' : 'Token: none'}</button>`;
}
