// drover's dashboard: a hash router over six views, kept live by store.js.
import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useLayoutEffect, useState } from 'preact/hooks';
import { act } from './api.js';
import { duration, now, time } from './format.js';
import { start, state, useStore } from './store.js';
import { Dialog, Toasts, TokenButton, confirmAction } from './ui.js';
import { Agents } from './views/agents.js';
import { Events } from './views/events.js';
import { Overview } from './views/overview.js';
import { Process } from './views/process.js';
import { Processes } from './views/processes.js';
import { Queues } from './views/queues.js';

const NAV = [
	['#/', 'Overview', 'overview'],
	['#/processes', 'Processes', 'processes'],
	['#/queues', 'Queues', 'queues'],
	['#/agents', 'Agents', 'agents'],
	['#/events', 'Events', 'events'],
];

function route() {
	const h = location.hash.replace(/^#/, '') || '/';
	const [path, qs] = h.split('?');
	const params = new URLSearchParams(qs || '');
	const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
	return { view: parts[0] || 'overview', arg: parts[1], params };
}

function useRoute() {
	const [r, setR] = useState(route());
	useEffect(() => {
		const f = () => setR(route());
		addEventListener('hashchange', f);
		return () => removeEventListener('hashchange', f);
	}, []);
	return r;
}

function reload() {
	confirmAction({
		title: 'Reload the configuration?',
		detail: 'droverd reads its configuration file again and applies the differences: what did not change keeps running. An invalid file changes nothing and its errors are shown here.',
		confirm: 'Reload',
		run: async () => {
			await act('POST', '/api/v1/reload');
			return 'Configuration reloaded';
		},
	});
}

function Conn() {
	const c = state.conn;
	const text = c === 'live' ? 'live' : c === 'connecting' ? 'connecting\u2026' : 'reconnecting\u2026';
	return html`<span id="conn" class=${'conn ' + c} data-state=${c} role="status" aria-live="polite">
		<span aria-hidden="true">${c === 'live' ? '\u25cf' : '\u25cc'}</span> ${text}</span>`;
}

function Banner() {
	if (state.conn !== 'reconnecting') return null;
	return html`<div class="banner" role="alert" id="conn-banner">
		Lost the connection to droverd at ${time(state.downSince / 1000)}: reconnecting\u2026 What is shown may be stale until it is back.
	</div>`;
}

let rendered = false;

function App() {
	useStore();
	const r = useRoute();
	useLayoutEffect(() => {
		if (!rendered && state.loaded) {
			rendered = true;
			requestAnimationFrame(() => performance.mark('drover:render'));
		}
	});
	useEffect(() => {
		document.title = `drover${state.status ? ' \u00b7 ' + state.status.name : ''}`;
	});
	let view;
	switch (r.view) {
		case 'processes':
			view = html`<${Processes} query=${r.params.get('q') || ''} />`;
			break;
		case 'process':
			view = html`<${Process} name=${r.arg} />`;
			break;
		case 'queues':
			view = html`<${Queues} />`;
			break;
		case 'agents':
			view = html`<${Agents} />`;
			break;
		case 'events':
			view = html`<${Events} />`;
			break;
		default:
			view = html`<${Overview} />`;
	}
	const cur = r.view === 'process' ? 'processes' : r.view;
	return html`<a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>Skip to content</a>
		<header class="top">
			<a class="brand" href="#/">drover</a>
			${state.status && html`<span class="sup">${state.status.name}</span>`}
			<nav aria-label="Views">
				${NAV.map(([href, label, key]) => html`<a href=${href} aria-current=${cur === key ? 'page' : null}>${label}</a>`)}
			</nav>
			<span class="spacer"></span>
			<${Conn} />
			<${TokenButton} />
			<button onClick=${reload} id="reload">Reload config</button>
		</header>
		<${Banner} />
		<main id="main" tabindex="-1">${view}</main>
		<${Dialog} />
		<${Toasts} />`;
}

// Uptimes tick once a second by writing the cells' text directly: a
// thousand rows cost a thousand text writes, not a render.
setInterval(() => {
	const t = now();
	for (const el of document.querySelectorAll('[data-since]')) {
		const s = Number(el.dataset.since);
		// Write into preact's own text node, so its later updates still land.
		if (s && el.firstChild && el.firstChild.nodeType === 3) el.firstChild.data = duration(t - s);
	}
}, 1000);

render(html`<${App} />`, document.getElementById('app'));
start();
